"""In-memory V1 and V2 orgs for MigrationPipeline: a V1 source answering the extract query, a V2
target for sObject Collections upserts, and a V2 that keeps Composite Graph's promises (each graph
commits or rolls back as a whole; after ``halt_after`` failed graphs the rest are halted)."""

from __future__ import annotations

from typing import Any

from migration_app.salesforce.errors import SalesforceTransientError

ACC1 = "001A00000000001AAA"
ACC2 = "001A00000000002AAA"


def v1_account(account_id: str, *, last_name: str | None = "Smith") -> dict[str, Any]:
    """A V1 Account as the extract query returns it: one Contact, no Cases, no Meters."""
    contact = {
        "attributes": {"type": "Contact"},
        "Id": "003A0000000000" + account_id[-4:],
        "AccountId": account_id,
        "FirstName": "Ann",
        "LastName": last_name,
        "Email": "ann@example.com",
        "Phone": "07700 900123",
        "Is_Primary__c": True,
    }
    return {
        "attributes": {"type": "Account"},
        "Id": account_id,
        "Name": f"Customer {account_id[-4:]}",
        "Phone": "+44 20 7946 0000",
        "Account_Status__c": "Debt",
        "Contacts": {"totalSize": 1, "done": True, "records": [contact]},
        "Cases": None,
        "Meters__r": None,
    }


class FakeSource:
    def __init__(self, accounts: list[dict[str, Any]]) -> None:
        self.accounts = accounts
        self.queries: list[str] = []

    async def query_all(self, soql: str) -> list[dict[str, Any]]:
        self.queries.append(soql)
        return [a for a in self.accounts if a["Id"] in soql]


class FakeTarget:
    def __init__(self, fail_codes: dict[str, str] | None = None, transient_calls: int = 0) -> None:
        self.calls: list[tuple[str, int]] = []
        self.fail_codes = fail_codes or {}
        self.transient_calls = transient_calls

    async def upsert_collection(
        self, sobject: str, field: str, records, *, allow_duplicates: bool = False
    ) -> list[dict[str, Any]]:
        if self.transient_calls:
            self.transient_calls -= 1
            raise SalesforceTransientError("HTTP 503")
        self.calls.append((sobject, len(records)))
        results = []
        for record in records:
            code = self.fail_codes.get(record[field])
            if code:
                results.append({"success": False, "errors": [{"statusCode": code, "message": "x"}]})
            else:
                results.append({"success": True, "id": "V2" + record[field], "created": True})
        return results


HALTED = [{"errorCode": "PROCESSING_HALTED", "message": "not processed"}]


class FakeGraphOrg(FakeTarget):
    """V2 as a dict of external id -> record; ``fail`` maps a legacy id to (code, field)."""

    def __init__(self, fail: dict[str, tuple[str, str]] | None = None, halt_after: int = 14):
        super().__init__()
        self.fail = fail or {}
        self.halt_after = halt_after
        self.records: dict[str, dict[str, Any]] = {}
        self.graph_calls: list[int] = []
        self.headers: list[bool] = []

    async def composite_graph(self, payload: dict[str, Any], *, allow_duplicates: bool = False):
        self.graph_calls.append(len(payload["graphs"]))
        self.headers.append(allow_duplicates)
        failed = 0
        out = []
        for graph in payload["graphs"]:
            nodes = graph["compositeRequest"]
            if failed >= self.halt_after:
                responses = [{"referenceId": n["referenceId"], "body": HALTED} for n in nodes]
                out.append(
                    {
                        "graphId": graph["graphId"],
                        "isSuccessful": False,
                        "graphResponse": {"compositeResponse": responses},
                    }
                )
                continue
            staged, responses, ok = {}, [], True
            for node in nodes:
                legacy = node["url"].rsplit("/", 1)[1]
                if legacy in self.fail:
                    code, field = self.fail[legacy]
                    body: Any = [{"errorCode": code, "message": "rejected", "fields": [field]}]
                    ok = False
                else:
                    staged[legacy] = node["body"]
                    body = {"id": "V2" + legacy, "success": True, "created": True, "errors": []}
                responses.append({"referenceId": node["referenceId"], "body": body})
            if ok:
                self.records.update(staged)
            else:
                failed += 1
                for r in responses:
                    if isinstance(r["body"], dict):
                        r["body"] = HALTED
            out.append(
                {
                    "graphId": graph["graphId"],
                    "isSuccessful": ok,
                    "graphResponse": {"compositeResponse": responses},
                }
            )
        return {"graphs": out}
