"""The state table's changelog keys are the topic's key bytes, so table routing finds the owner."""

from migration_app.app import build
from migration_app.settings import Settings


def test_changelog_key_bytes_equal_the_customer_topic_key_bytes() -> None:
    components = build(Settings.from_env({"MIGRATION_DEV_MODE": "true"}))

    customer_id = "0011S000000000yQAA"
    table = components.migration_state
    table_key = table.changelog_topic.prepare_key(customer_id, None)[0]
    topic_key = components.customer_topic.prepare_key(customer_id.encode(), None)[0]
    assert table_key == topic_key == customer_id.encode()
