"""OpenRouter's official Python SDK (`openrouter` on PyPI), unchanged, against rotor-emulator.

Run by crates/rotor-emulator/tests/python_sdk.rs with:
  ROTOR_SDK_BASE_URL       the emulator's base URL (http://127.0.0.1:PORT/api/v1)
  ROTOR_SDK_MANAGEMENT_KEY the emulator's management key
Exercises api_keys.list/create/get/update/delete/get_current_key_metadata (and chat.send with the
created key, to prove it works) and exits non-zero
(with a traceback) on the first failure. Never prints a key.
"""
import datetime
import os
import sys

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

    print(f"openrouter {openrouter.__version__ if hasattr(openrouter, '__version__') else '?'}: all key-management calls work against the emulator")


if __name__ == "__main__":
    try:
        main()
    except Exception:
        import traceback

        traceback.print_exc()
        sys.exit(1)
