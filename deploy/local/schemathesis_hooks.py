"""Schemathesis hooks for deploy/local/schemathesis.sh.

- Seeds the suite once (an org unit, a staff member, two customers with a
  purchase and a consent) so that about half the generated calls name things
  that exist: path parameters of `/v1/customers/…`, `/v1/orgUnits/…`,
  `/v1/staff/…` and `/v1/tierPolicies/…` are replaced by a seeded id in every
  other call, so data that gets past validation reaches the services' logic,
  beside the generated data that does not.
- Records every call's operation and status, and for a server error what was
  sent and answered, one JSON line each, in PATRON_SCHEMATHESIS_CALLS.
"""

import json
import os
import random
import threading
import urllib.request
import uuid

import schemathesis

_LOCK = threading.Lock()
_PATH = os.environ["PATRON_SCHEMATHESIS_CALLS"]
_BASE = os.environ["PATRON_SCHEMATHESIS_BASE"]
_TOKEN = os.environ["PATRON_SCHEMATHESIS_TOKEN"]
_RANDOM = random.Random(20261120)


def _post(path, body):
    request = urllib.request.Request(
        _BASE + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {_TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _customer(name, phone):
    created = _post(
        f"/v1/customers?requestId={uuid.uuid4()}",
        {
            "kind": "CUSTOMER_KIND_PERSON",
            "displayName": name,
            "contact": {"mobilePhone": phone, "email": "seed@example.com"},
            "person": {"gender": "GENDER_FEMALE", "birthday": {"year": 1980, "month": 3, "day": 8}},
            "orgUnit": "orgUnits/east",
        },
    )
    cid = created["name"].split("/", 1)[1]
    _post(
        f"/v1/customers/{cid}/transactions",
        {
            "externalId": f"seed-{cid}",
            "kind": "TRANSACTION_KIND_PURCHASE",
            "occurTime": "2026-05-20T02:00:00Z",
            "product": "checkup",
            "amount": {"currencyCode": "CNY", "amountMinor": "120000"},
        },
    )
    _post(
        f"/v1/customers/{cid}/consents",
        {"channel": "CONTACT_CHANNEL_EMAIL", "purpose": "CONTACT_PURPOSE_MARKETING", "status": "CONSENT_STATUS_OPTED_IN"},
    )
    return cid


def _seed():
    seeds = {}
    steps = [
        ("orgUnits", lambda: _post("/v1/orgUnits?orgUnitId=east", {"displayName": "East region", "kind": "ORG_UNIT_KIND_REGION", "parent": "orgUnits/company"}) and "east"),
        ("staff", lambda: _post("/v1/staff?staffMemberId=li.na", {"displayName": "Li Na", "orgUnit": "orgUnits/east"}) and "li.na"),
        ("customers", lambda: _customer("王丽", "138-0013-8000")),
        ("customers-destructive", lambda: _customer("张伟", "139-0013-9000")),
    ]
    for key, step in steps:
        try:
            seeds[key] = step()
        except Exception as e:  # a seed refused still leaves the generated calls
            print(f"[schemathesis hooks] seeding {key} failed: {e}")
    seeds["tierPolicies"] = "health-chain"
    return seeds


_SEEDS = _seed()
_DESTRUCTIVE = ("DELETE", ":exit")


def _text(value, limit=600):
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "backslashreplace")
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return value if len(value) <= limit else value[:limit] + "…"


@schemathesis.hook
def before_call(context, case, kwargs):
    path = case.operation.path
    if not case.path_parameters or _RANDOM.random() < 0.5:
        return
    collection = path.split("/")[2].split(":")[0] if path.count("/") >= 2 else ""
    key = collection
    if collection == "customers" and (case.operation.method.upper() == "DELETE" or path.endswith(":exit")):
        key = "customers-destructive"
    seeded = _SEEDS.get(key)
    if seeded is None:
        return
    # The first path parameter names the collection's resource.
    first = next(iter(case.path_parameters))
    case.path_parameters[first] = seeded


@schemathesis.hook
def after_call(context, case, response):
    record = {
        "operation": f"{case.operation.method.upper()} {case.operation.path}",
        "status": response.status_code,
    }
    if response.status_code >= 500:
        request = response.request
        record.update(url=request.url, body=_text(request.body), response=_text(response.text))
    with _LOCK, open(_PATH, "a", encoding="utf-8") as out:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
