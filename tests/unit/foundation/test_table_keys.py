"""The state table's changelog keys are the topic's key bytes, so table routing finds the owner."""

import os


def test_changelog_key_bytes_equal_the_customer_topic_key_bytes() -> None:
    os.environ.setdefault("MIGRATION_DEV_MODE", "true")
    from migration_app.app import customer_topic, migration_state

    customer_id = "0011S000000000yQAA"
    table_key = migration_state.changelog_topic.prepare_key(customer_id, None)[0]
    topic_key = customer_topic.prepare_key(customer_id.encode(), None)[0]
    assert table_key == topic_key == customer_id.encode()
