"""SOQL through simple-salesforce: subqueries, parent paths, filters, paging and errors."""

from __future__ import annotations

import math

import pytest
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from devstack.sandbox import SandboxThread
from tests.integration.sandbox.support import V1_CUSTOMERS, admin


def test_child_subqueries_and_parent_paths(sf1: Salesforce) -> None:
    res = sf1.query(
        "SELECT Id, name, (SELECT Id, LastName, Account.Name FROM Contacts), "
        "(SELECT MPAN__c FROM Meters__r), (SELECT Id FROM Cases) FROM Account ORDER BY Name LIMIT 5"
    )
    assert res["totalSize"] == 5 and res["done"] is True
    acc = res["records"][0]
    assert list(acc)[:3] == ["attributes", "Id", "Name"]  # declared case, select order
    assert acc["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v59.0/sobjects/Account/{acc['Id']}",
    }
    contacts = acc["Contacts"]
    assert contacts["done"] is True and 1 <= contacts["totalSize"] <= 4
    assert all(c["Account"]["Name"] == acc["Name"] for c in contacts["records"])
    assert 1 <= acc["Meters__r"]["totalSize"] <= 2
    assert acc["Cases"] is None or acc["Cases"]["totalSize"] <= 5
    names = [r["Name"].casefold() for r in res["records"]]
    assert names == sorted(names)


def test_custom_parent_path(sf1: Salesforce) -> None:
    res = sf1.query(
        "SELECT Name, Account__r.Name, Account__r.Customer_Number__c FROM Meter__c "
        "WHERE Account__r.Customer_Number__c = 'CUST-0000001'"
    )
    assert res["totalSize"] >= 1
    assert {r["Account__r"]["Customer_Number__c"] for r in res["records"]} == {"CUST-0000001"}


def test_where_operators(sf1: Salesforce) -> None:
    def count(where: str) -> int:
        return sf1.query(f"SELECT COUNT() FROM Account WHERE {where}")["totalSize"]

    total = sf1.query("SELECT COUNT() FROM Account")["totalSize"]
    assert total == V1_CUSTOMERS
    active = count("Account_Status__c = 'active'")  # text compares case-insensitively
    assert 0 < active < total
    assert count("Account_Status__c != 'Active'") == total - active
    assert count("NOT Account_Status__c = 'Active'") == total - active
    assert (
        count("Account_Status__c IN ('Active', 'Closed')")
        + count("Account_Status__c NOT IN ('Active', 'Closed')")
        == total
    )
    assert count("Customer_Number__c LIKE 'CUST-000000_'") == 9
    assert (
        count("Customer_Number__c >= 'CUST-0000010' AND Customer_Number__c < 'CUST-0000020'") == 10
    )
    assert (
        count(
            "(Customer_Number__c = 'CUST-0000001' OR Customer_Number__c = 'CUST-0000002') "
            "AND Name != null"
        )
        == 2
    )
    assert count("CreatedDate > 2019-12-31T00:00:00Z AND CreatedDate < 2030-01-01") == total
    assert count("Name = 'O\\'Brien'") == 0
    assert sf1.query("SELECT COUNT() FROM Contact WHERE Is_Primary__c = true")["totalSize"] == total


def test_limit_offset_and_count_aggregate(sf1: Salesforce) -> None:
    all_ids = [r["Id"] for r in sf1.query("SELECT Id FROM Contact ORDER BY Id")["records"]]
    page = sf1.query("SELECT Id FROM Contact ORDER BY Id LIMIT 3 OFFSET 2")["records"]
    assert [r["Id"] for r in page] == all_ids[2:5]
    agg = sf1.query("SELECT COUNT(Id) n FROM Contact")["records"][0]
    assert agg["n"] == len(all_ids)


def test_query_all_follows_next_records_url(sf1: Salesforce, v1: SandboxThread) -> None:
    admin(v1, "POST", "stats/reset")
    expected = sf1.query("SELECT COUNT() FROM Contact")["totalSize"]
    res = sf1.query_all(
        "SELECT Id, LastName FROM Contact", headers={"Sforce-Query-Options": "batchSize=25"}
    )
    assert res["totalSize"] == expected
    assert len({r["Id"] for r in res["records"]}) == expected
    first = sf1.query("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=25"})
    assert first["done"] is False and len(first["records"]) == 25
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    more = sf1.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert len(more["records"]) == 25
    stats = admin(v1, "GET", "stats")["by_endpoint"]
    assert stats["query_more"] == math.ceil(expected / 25)  # pages after the first, +1 above


def test_query_all_endpoint(sf1: Salesforce) -> None:
    res = sf1.query("SELECT Id FROM Meter__c LIMIT 2", include_deleted=True)
    assert res["totalSize"] == 2


@pytest.mark.parametrize(
    ("soql", "code", "needle"),
    [
        ("SELECT Id FROM", "MALFORMED_QUERY", ""),
        ("SELECT Id FROM Account WHERE Name = ", "MALFORMED_QUERY", ""),
        (
            "SELECT Nope__c FROM Account",
            "INVALID_FIELD",
            "No such column 'Nope__c' on entity 'Account'",
        ),
        ("SELECT Id FROM Nope__c", "INVALID_TYPE", "sObject type 'Nope__c' is not supported"),
        ("SELECT Id, (SELECT Id FROM Nopes) FROM Account", "INVALID_TYPE", "relationship 'Nopes'"),
        ("SELECT Nope__r.Name FROM Contact", "INVALID_FIELD", "relationship 'Nope__r'"),
    ],
)
def test_query_errors(sf1: Salesforce, soql: str, code: str, needle: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf1.query(soql)
    assert err.value.status == 400
    assert err.value.content[0]["errorCode"] == code
    assert needle in err.value.content[0]["message"]


def test_id_in_batch_is_one_query(sf1: Salesforce, v1: SandboxThread) -> None:
    """150 ids (repeats, 15-char forms) in one IN list: one API call answers every account
    with its contacts (latency is for benchmarks/bench_sandbox.py, not a pass/fail test)."""
    ids = admin(v1, "GET", "customers")
    assert len(ids) == V1_CUSTOMERS
    batch = (ids * 5)[:150]
    in_list = ",".join(f"'{i[:15]}'" for i in batch)  # 15-char ids are accepted
    admin(v1, "POST", "stats/reset")
    res = sf1.query(f"SELECT Id, (SELECT Id FROM Contacts) FROM Account WHERE Id IN ({in_list})")
    assert res["done"] is True and res["totalSize"] == V1_CUSTOMERS
    assert {r["Id"] for r in res["records"]} == set(ids)
    assert all(r["Contacts"]["totalSize"] >= 1 for r in res["records"])
    stats = admin(v1, "GET", "stats")["by_endpoint"]
    assert stats.get("query") == 1 and not stats.get("query_more"), stats
