"""OpenRouter's official Python SDK (`openrouter` on PyPI), unchanged, against rotor-emulator.

Run by crates/rotor-emulator/tests/python_sdk.rs with:
  ROTOR_SDK_BASE_URL       the emulator's base URL (http://127.0.0.1:PORT/api/v1)
  ROTOR_SDK_MANAGEMENT_KEY the emulator's management key
Exercises api_keys.list/create/get/update/delete/get_current_key_metadata (and chat.send with the
created key, to prove it works), api_keys.list(include_expired=…), guardrails (CRUD, bulk key
assignment and unassignment, both assignment listings, enforcement and budgets on GET /key) and
workspaces (create/list/get/update/delete, moving a key) and exits non-zero
(with a traceback) on the first failure. Never prints a key.
"""
import datetime
import os
import sys
import time

import openrouter
from openrouter import OpenRouter, errors

base_url = os.environ["ROTOR_SDK_BASE_URL"]
management_key = os.environ["ROTOR_SDK_MANAGEMENT_KEY"]


def main() -> None:
    with OpenRouter(api_key=management_key, server_url=base_url) as mgmt:
        before = mgmt.api_keys.list(include_disabled=True).data
        assert before == [], f"expected no keys yet, got {len(before)}"

        expires = datetime.datetime(2099, 1, 1, tzinfo=datetime.timezone.utc)
        created = mgmt.api_keys.create(
            name="sdk-key", limit=5.0, limit_reset="monthly", include_byok_in_limit=False, expires_at=expires
        )
        key, data = created.key, created.data
        assert key.startswith("sk-or-v1-") and len(key) == 73, "malformed key returned by create"
        assert data.name == "sdk-key" and data.limit == 5.0 and data.limit_remaining == 5.0
        assert data.limit_reset == "monthly" and data.disabled is False and data.updated_at is None
        assert data.expires_at == expires, f"expires_at round trip: {data.expires_at!r}"
        h = data.hash
        assert len(h) == 64

        second = mgmt.api_keys.create(name="sdk-key-2").data
        listed = mgmt.api_keys.list().data
        assert [k.hash for k in listed] == [second.hash, h], "list must be newest first"

        got = mgmt.api_keys.get(hash=h).data
        assert got.hash == h and got.label == data.label

        updated = mgmt.api_keys.update(hash=h, name="sdk-key-renamed", disabled=True, limit=7.5).data
        assert updated.name == "sdk-key-renamed" and updated.disabled is True and updated.limit == 7.5
        assert updated.updated_at is not None
        assert h not in [k.hash for k in mgmt.api_keys.list().data], "disabled key listed by default"
        assert h in [k.hash for k in mgmt.api_keys.list(include_disabled=True).data]
        assert len(mgmt.api_keys.list(include_disabled=True, offset=1).data) == 1
        mgmt.api_keys.update(hash=h, disabled=False)

        me = mgmt.api_keys.get_current_key_metadata().data
        assert me.is_management_key is True

        with OpenRouter(api_key=key, server_url=base_url) as app:
            meta = app.api_keys.get_current_key_metadata().data
            assert meta.is_management_key is False and meta.label == data.label and meta.limit == 7.5
            # The key really works: one chat completion, and its cost shows as usage.
            chat = app.chat.send(
                model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "ping"}], max_tokens=1
            )
            assert chat.choices[0].message.content, "empty completion"
            assert app.api_keys.get_current_key_metadata().data.usage > 0, "completion added no usage"
            try:
                app.api_keys.list()
                raise AssertionError("an ordinary key could list keys")
            except errors.OpenRouterError as e:
                assert e.status_code == 403, f"ordinary key on /keys: {e.status_code}"

        deleted = mgmt.api_keys.delete(hash=h)
        assert deleted.DELETED is True
        try:
            mgmt.api_keys.get(hash=h)
            raise AssertionError("deleted key still readable")
        except errors.OpenRouterError as e:
            assert e.status_code == 404, f"get after delete: {e.status_code}"
        mgmt.api_keys.delete(hash=second.hash)
        assert mgmt.api_keys.list(include_disabled=True).data == []

        include_expired(mgmt)
        guardrails(mgmt)
        workspaces(mgmt)

    print(f"openrouter {openrouter.__version__ if hasattr(openrouter, '__version__') else '?'}: all key-management calls work against the emulator")


def include_expired(mgmt: OpenRouter) -> None:
    soon = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(seconds=2)
    short = mgmt.api_keys.create(name="sdk-expiring", expires_at=soon).data
    deadline = time.monotonic() + 10
    while short.hash in [k.hash for k in mgmt.api_keys.list().data]:
        assert time.monotonic() < deadline, "expired key still listed by default"
        time.sleep(0.2)
    assert short.hash in [k.hash for k in mgmt.api_keys.list(include_expired=True).data]
    assert short.hash not in [k.hash for k in mgmt.api_keys.list(include_expired=False).data]
    mgmt.api_keys.delete(hash=short.hash)


def guardrails(mgmt: OpenRouter) -> None:
    created = mgmt.guardrails.create(
        name="sdk-guardrail",
        description="only openai, 1 USD a day",
        limit_usd=1.0,
        reset_interval="daily",
        allowed_providers=["openai"],
        enforce_zdr=False,
    ).data
    gid = created.id
    assert created.name == "sdk-guardrail" and created.limit_usd == 1.0 and created.reset_interval == "daily"
    assert created.allowed_providers == ["openai"] and created.include_byok_in_budgets is False
    got = mgmt.guardrails.get(id=gid).data
    assert got.id == gid and got.description == "only openai, 1 USD a day"
    listed = mgmt.guardrails.list()
    assert listed is not None and listed.result.total_count == 1 and listed.result.data[0].id == gid
    updated = mgmt.guardrails.update(id=gid, name="sdk-guardrail-2", allowed_models=["openai/gpt-4o-mini"]).data
    assert updated.name == "sdk-guardrail-2" and updated.allowed_models == ["openai/gpt-4o-mini"]
    assert updated.updated_at is not None

    created_key = mgmt.api_keys.create(name="sdk-guarded")
    key, h = created_key.key, created_key.data.hash
    other = mgmt.api_keys.create(name="sdk-unguarded").data.hash
    assert mgmt.guardrails.bulk_assign_keys(id=gid, key_hashes=[h, other]).assigned_count == 2
    per = mgmt.guardrails.list_guardrail_key_assignments(id=gid)
    assert per is not None and per.result.total_count == 2
    assert {a.key_hash for a in per.result.data} == {h, other}
    assert all(a.guardrail_id == gid and a.key_name.startswith("sdk-") for a in per.result.data)
    everything = mgmt.guardrails.list_key_assignments()
    assert everything is not None and everything.result.total_count == 2
    assert mgmt.guardrails.bulk_unassign_keys(id=gid, key_hashes=[other]).unassigned_count == 1
    per = mgmt.guardrails.list_guardrail_key_assignments(id=gid)
    assert per is not None and [a.key_hash for a in per.result.data] == [h]

    with OpenRouter(api_key=key, server_url=base_url) as app:
        ping = [{"role": "user", "content": "ping"}]
        assert app.chat.send(model="openai/gpt-4o-mini", messages=ping, max_tokens=1).choices
        try:
            app.chat.send(model="anthropic/claude-3.5-sonnet", messages=ping, max_tokens=1)
            raise AssertionError("a model outside the guardrail was allowed")
        except errors.OpenRouterError as e:
            assert e.status_code == 403, f"disallowed model: {e.status_code}"
        meta = app.api_keys.get_current_key_metadata().data
        assert [b.scope for b in meta.budgets] == ["api_key"], meta.budgets
        assert meta.budgets[0].guardrail_id == gid and meta.budgets[0].limit_usd == 1.0
        assert meta.effective_budget is not None and meta.effective_budget.guardrail_id == gid
        assert meta.budgets[0].resets_at is not None
        assert sorted(meta.allowed_data_regions) == ["europe", "global", "us"]

    assert mgmt.guardrails.delete(id=gid).DELETED is True
    try:
        mgmt.guardrails.get(id=gid)
        raise AssertionError("deleted guardrail still readable")
    except errors.OpenRouterError as e:
        assert e.status_code == 404, f"get guardrail after delete: {e.status_code}"
    mgmt.api_keys.delete(hash=h)
    mgmt.api_keys.delete(hash=other)


def workspaces(mgmt: OpenRouter) -> None:
    before = mgmt.workspaces.list()
    assert before is not None and before.result.total_count == 1, "the default workspace"
    default = before.result.data[0]
    created = mgmt.workspaces.create(name="SDK staging", slug="sdk-staging", description="made by the SDK").data
    assert created.slug == "sdk-staging" and created.description == "made by the SDK"
    got = mgmt.workspaces.get(id=created.id).data
    assert got.id == created.id and got.name == "SDK staging"
    listed = mgmt.workspaces.list()
    assert listed is not None and {w.id for w in listed.result.data} == {default.id, created.id}
    renamed = mgmt.workspaces.update(id=created.id, name="SDK staging 2").data
    assert renamed.name == "SDK staging 2"

    k = mgmt.api_keys.create(name="sdk-mover").data
    assert k.workspace_id == default.id
    moved = mgmt.api_keys.update(hash=k.hash, workspace_id=created.id).data
    assert moved.workspace_id == created.id
    assert k.hash not in [x.hash for x in mgmt.api_keys.list().data]
    assert k.hash in [x.hash for x in mgmt.api_keys.list(workspace_id=created.id).data]
    mgmt.api_keys.delete(hash=k.hash)

    assert mgmt.workspaces.delete(id=created.id).DELETED is True
    try:
        mgmt.workspaces.get(id=created.id)
        raise AssertionError("deleted workspace still readable")
    except errors.OpenRouterError as e:
        assert e.status_code == 404, f"get workspace after delete: {e.status_code}"


if __name__ == "__main__":
    try:
        main()
    except Exception:
        import traceback

        traceback.print_exc()
        sys.exit(1)
