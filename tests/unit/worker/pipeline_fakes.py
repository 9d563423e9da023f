"""In-memory V1 and V2 orgs for MigrationPipeline: a V1 source answering the extract query, a V2
target for sObject Collections creates and upserts, and a V2 that keeps Composite Graph's promises
(each graph commits or rolls back as a whole; after ``halt_after`` failed graphs the rest are
halted). Both keep Salesforce's rules for audit fields (create only) and external ids
(DUPLICATE_VALUE on a create)."""

from __future__ import annotations

from typing import Any

from migration_app.salesforce.errors import SalesforceTransientError

ACC1 = "001A00000000001AAA"
ACC2 = "001A00000000002AAA"


def v1_account(account_id: str, *, last_name: str | None = "Smith") -> dict[str, Any]:
    """A V1 Account as the extract query returns it: one Contact, no Cases, no Meters."""
    contact = {
        "attributes": {"type": "Contact"},
        "Id": "003" + account_id[3:],
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
    """V2 as a dict of (object, external id) -> record: creates meet DUPLICATE_VALUE on a taken
    external id, upserts create or update; ``fail_codes`` maps a legacy id to an error code."""

    EXTERNAL_ID = "Legacy_Id__c"

    def __init__(self, fail_codes: dict[str, str] | None = None, transient_calls: int = 0) -> None:
        self.calls: list[tuple[str, int]] = []
        self.creates: list[tuple[str, int]] = []
        self.queries: list[str] = []
        self.fail_codes = fail_codes or {}
        self.transient_calls = transient_calls
        self.v2: dict[tuple[str, str], dict[str, Any]] = {}
        self.last_modified_by: dict[tuple[str, str], str] = {}

    def _transient(self) -> None:
        if self.transient_calls:
            self.transient_calls -= 1
            raise SalesforceTransientError("HTTP 503")

    async def query_all(self, soql: str) -> list[dict[str, Any]]:
        """The V2-state reads (``v2_state``) and the integration user's Id."""
        self.queries.append(soql)
        if " FROM User " in soql:
            return [{"Id": "005000000000001AAA"}]
        target = soql.split(" FROM ", 1)[1].split(" ", 1)[0]
        return [
            {
                "Id": "V2" + legacy,
                self.EXTERNAL_ID: legacy,
                "LastModifiedById": self.last_modified_by.get((obj, legacy), "005000000000001AAA"),
                "LastModifiedBy": {"Username": "someone"},
            }
            for (obj, legacy) in self.v2
            if obj == target
        ]

    async def create_collection(self, records, *, allow_duplicates: bool = False):
        self._transient()
        obj = records[0]["attributes"]["type"]
        self.creates.append((obj, len(records)))
        self.calls.append((obj, len(records)))
        results = []
        for record in records:
            legacy = record[self.EXTERNAL_ID]
            if (code := self.fail_codes.get(legacy)) is not None:
                results.append({"success": False, "errors": [{"statusCode": code, "message": "x"}]})
            elif (obj, legacy) in self.v2:
                message = f"duplicate value found: {self.EXTERNAL_ID} duplicates value on record"
                error = {"statusCode": "DUPLICATE_VALUE", "message": message, "fields": []}
                results.append({"success": False, "errors": [error]})
            else:
                self.v2[(obj, legacy)] = dict(record)
                results.append({"success": True, "id": "V2" + legacy, "errors": []})
        return results

    async def upsert_collection(
        self, sobject: str, field: str, records, *, allow_duplicates: bool = False
    ) -> list[dict[str, Any]]:
        self._transient()
        self.calls.append((sobject, len(records)))
        results = []
        for record in records:
            code = self.fail_codes.get(record[field])
            if code:
                results.append({"success": False, "errors": [{"statusCode": code, "message": "x"}]})
            elif "CreatedDate" in record:  # audit fields: on create only, never on upsert
                error = {
                    "statusCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
                    "message": "Unable to create/update fields: CreatedDate.",
                    "fields": ["CreatedDate"],
                }
                results.append({"success": False, "errors": [error]})
            else:
                key = (sobject, record[field])
                created = key not in self.v2
                self.v2[key] = {**self.v2.get(key, {}), **record}
                results.append({"success": True, "id": "V2" + record[field], "created": created})
        return results


HALTED = [{"errorCode": "PROCESSING_HALTED", "message": "not processed"}]


class FakeGraphOrg(FakeTarget):
    """V2 as a dict of (object, external id) -> record that keeps Composite Graph's promises:
    a POST node meets DUPLICATE_VALUE on a taken external id, a PATCH node carrying an audit
    field is refused, and a failed graph rolls back. ``fail`` maps a legacy id to (code,
    field)."""

    def __init__(self, fail: dict[str, tuple[str, str]] | None = None, halt_after: int = 14):
        super().__init__()
        self.fail = fail or {}
        self.halt_after = halt_after
        self.graph_calls: list[int] = []
        self.headers: list[bool] = []
        self.bodies: list[dict[str, Any]] = []
        self.methods: list[str] = []

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        return {legacy: record for (_, legacy), record in self.v2.items()}

    def _node(self, node: dict[str, Any], staged: dict) -> tuple[Any, bool]:
        obj = node["url"].split("/sobjects/", 1)[1].split("/", 1)[0]
        create = node["method"] == "POST"
        legacy = node["body"][self.EXTERNAL_ID] if create else node["url"].rsplit("/", 1)[1]
        self.bodies.append(node["body"])
        self.methods.append(node["method"])
        exists = (obj, legacy) in self.v2 or (obj, legacy) in staged
        if legacy in self.fail:
            code, field = self.fail[legacy]
            return [{"errorCode": code, "message": "rejected", "fields": [field]}], False
        if create and exists:
            message = f"duplicate value found: {self.EXTERNAL_ID} duplicates value on record"
            return [{"errorCode": "DUPLICATE_VALUE", "message": message, "fields": []}], False
        if not create and "CreatedDate" in node["body"]:
            error = {
                "errorCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
                "message": "Unable to create/update fields: CreatedDate.",
                "fields": ["CreatedDate"],
            }
            return [error], False
        staged[(obj, legacy)] = {**self.v2.get((obj, legacy), {}), **node["body"]}
        body = {"id": "V2" + legacy, "success": True, "errors": []}
        if not create:
            body["created"] = not exists
        return body, True

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
            staged: dict = {}
            responses, ok = [], True
            for node in nodes:
                if not ok:  # Salesforce stops a graph at its first failing node
                    responses.append({"referenceId": node["referenceId"], "body": HALTED})
                    continue
                body, ok = self._node(node, staged)
                responses.append({"referenceId": node["referenceId"], "body": body})
            if ok:
                self.v2.update(staged)
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
