"""The LiteLLM admin client: error mapping on canned answers, behaviour against the real proxy."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from benchctl.errors import (
    ProxyAuthError,
    ProxyEnterpriseOnly,
    ProxyError,
    ProxyModelError,
    ProxyUnavailable,
)
from benchctl.litellm import client as client_module
from benchctl.litellm.client import GeneratedKey, KeyInfo, LiteLLMClient, check_response, hash_key

from proxy_stack import ProxyStack, free_port

MASTER = "sk-master-0123456789abcdef"
RAW_KEY = "sk-AbCdEfGhIjKlMnOpQrStUv"

# --- canned answers: pure mapping logic -----------------------------------------------------


def _mock(
    status: int, body: Any = None, *, text: str | None = None
) -> tuple[LiteLLMClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if text is not None:
            return httpx.Response(status, text=text)
        return httpx.Response(status, json=body)

    return LiteLLMClient("http://proxy.test", MASTER, transport=httpx.MockTransport(handler)), seen


def _error(message: str, kind: str, code: int) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": str(code)}}


def _generate(client: LiteLLMClient) -> GeneratedKey:
    return client.generate_key(
        alias="a", models=["m"], duration_seconds=60, max_budget=1.0, metadata={}
    )


def test_master_key_sent_as_bearer_and_never_shown():
    client, seen = _mock(200, {"keys": [], "total_count": 0, "total_pages": 0})
    client.count_keys(alias_prefix="bc-")
    assert seen[0].headers["authorization"] == f"Bearer {MASTER}"
    assert MASTER not in repr(client)


def test_refused_master_key_is_an_auth_error_without_the_key():
    proxy_text = (
        f"Authentication Error, Invalid proxy server token passed. Received API Key = {MASTER}"
    )
    client, _ = _mock(401, _error(proxy_text, "token_not_found_in_db", 401))
    with pytest.raises(ProxyAuthError, match="BENCHCTL_PROXY_MASTER_KEY") as caught:
        client.list_keys(alias_prefix="bc-")
    assert MASTER not in str(caught.value)


def test_non_admin_key_refused_is_an_auth_error():
    client, _ = _mock(403, _error("You are not authorized to access this endpoint.", "x", 403))
    with pytest.raises(ProxyAuthError):
        client.count_keys(alias_prefix="bc-")


def test_enterprise_refusal():
    message = (
        "Regenerating Virtual Keys is an Enterprise feature, You must be a LiteLLM Enterprise user"
        " to use this feature. If you have a license please set `LITELLM_LICENSE` in your env."
    )
    client, _ = _mock(500, _error(message, "internal_server_error", 500))
    with pytest.raises(ProxyEnterpriseOnly, match="Enterprise"):
        _generate(client)


def test_unknown_model_at_call_time_is_a_model_error():
    message = (
        "/chat/completions: Invalid model name passed in model=claude-sonnet-4.5. Call"
        " `/v1/models` to view available models for your key."
    )
    request = httpx.Request("POST", "http://proxy.test/v1/chat/completions")
    response = httpx.Response(
        400, json=_error(message, "invalid_request_error", 400), request=request
    )
    with pytest.raises(ProxyModelError, match=r"no model claude-sonnet-4\.5: render") as caught:
        check_response(response, admin=False)
    assert "benchctl render litellm-config" in str(caught.value)


def test_other_refusals_carry_status_and_redacted_message():
    message = f"bad thing for {RAW_KEY} (masked sk-...UvWx) sent with {MASTER}"
    client, _ = _mock(400, _error(message, "bad_request_error", 400))
    with pytest.raises(ProxyError) as caught:
        _generate(client)
    text = str(caught.value)
    assert type(caught.value) is ProxyError
    assert "HTTP 400" in text and "bad_request_error" in text and "POST /key/generate" in text
    assert RAW_KEY not in text and MASTER not in text and "UvWx" not in text
    # Words that merely contain "sk-" are left alone.
    client, _ = _mock(400, _error("alias 'demo-task-1' is taken", "bad_request_error", 400))
    with pytest.raises(ProxyError, match="demo-task-1"):
        _generate(client)


def test_fastapi_validation_and_non_json_answers():
    detail = {"detail": [{"loc": ["body"], "msg": "Value error, keys or key_aliases"}]}
    client, _ = _mock(422, detail)
    with pytest.raises(ProxyError, match=r"HTTP 422.*keys or key_aliases"):
        client.keys_info(aliases=["x"])
    client, _ = _mock(502, text="<html>Bad Gateway</html>")
    with pytest.raises(ProxyError, match="HTTP 502"):
        client.keys_info(aliases=["x"])
    client, _ = _mock(200, text="not json")
    with pytest.raises(ProxyError, match="without JSON"):
        client.keys_info(aliases=["x"])


def test_timeout_is_unavailable():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client = LiteLLMClient(
        "http://proxy.test", MASTER, timeout=2, transport=httpx.MockTransport(handler)
    )
    with pytest.raises(ProxyUnavailable, match="did not answer GET /key/list within 2s"):
        client.count_keys(alias_prefix="bc-")


def test_nothing_listening_is_unavailable():
    url = f"http://127.0.0.1:{free_port()}"
    with (
        LiteLLMClient(url, MASTER, timeout=5) as client,
        pytest.raises(ProxyUnavailable, match="no LiteLLM proxy answers at") as caught,
    ):
        client.health()
    assert url in str(caught.value)
    assert "start it, or set BENCHCTL_PROXY_URL" in str(caught.value)


def test_refused_before_any_request():
    client, seen = _mock(200, {})
    assert client.keys_info() == []
    with pytest.raises(ValueError, match="every model"):
        client.generate_key(alias="a", models=[], duration_seconds=60, max_budget=1, metadata={})
    with pytest.raises(ValueError, match="every model"):
        client.update_key("t", models=[])
    with pytest.raises(ValueError, match="at least one field"):
        client.update_key("t")
    with pytest.raises(ValueError, match="positive"):
        client.generate_key(alias="a", models=["m"], duration_seconds=0, max_budget=1, metadata={})
    with pytest.raises(ValueError, match="prefix"):
        client.list_keys(alias_prefix="")
    assert seen == [] and client.requests_made == 0


def test_list_keys_pages_and_applies_the_prefix():
    pages = {
        1: [{"token": "t2", "key_alias": "bc-b"}, {"token": "t9", "key_alias": "BC-upper"}],
        2: [{"token": "t1", "key_alias": "bc-a"}, {"token": "t8", "key_alias": "x-bc-"}],
        3: [{"token": "t3", "key_alias": "bc-c", "blocked": True}],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        assert params["key_alias"] == "bc-" and params["substring_matching"] == "true"
        assert params["return_full_object"] == "true" and params["size"] == "100"
        page = int(params["page"])
        return httpx.Response(200, json={"keys": pages[page], "total_pages": 3})

    client = LiteLLMClient("http://proxy.test", MASTER, transport=httpx.MockTransport(handler))
    found = client.list_keys(alias_prefix="bc-")
    assert [(k.key_alias, k.token) for k in found] == [
        ("bc-a", "t1"),
        ("bc-b", "t2"),
        ("bc-c", "t3"),
    ]
    assert found[2].blocked and not found[0].blocked
    assert client.requests_made == 3


def test_key_rows_from_every_endpoint_shape():
    row = KeyInfo.from_api(
        {
            "token": "ab" * 32,
            "key_alias": "bc-x",
            "models": ["v"],
            "metadata": None,
            "expires": "2026-11-21T02:10:00.521000Z",
            "blocked": None,
            "max_budget": 10,
            "spend": 0.000128,
        }
    )
    assert row.expires == datetime(2026, 11, 21, 2, 10, 0, 521000, tzinfo=UTC)
    assert row.blocked is False and row.metadata == {} and row.max_budget == 10.0
    same = KeyInfo.from_api({"expires": "2026-11-21T02:10:00.521000+00:00"})
    assert same.expires == row.expires and same.token is None and same.spend == 0.0
    assert KeyInfo.from_api({"expires": "2000-01-01T00:00:00"}).expired
    assert not KeyInfo.from_api({"expires": None}).expired


def test_generated_key_repr_hides_the_key():
    key = GeneratedKey(key=RAW_KEY, token=hash_key(RAW_KEY), key_alias="a", expires=None)
    assert RAW_KEY not in repr(key) and key.token in repr(key)


# --- the real proxy --------------------------------------------------------------------------

SCOPED = "sdk-sim-fast"
OTHER = "sdk-sim-balanced"


@pytest.fixture
def proxy_client(litellm_proxy: ProxyStack) -> Iterator[LiteLLMClient]:
    with litellm_proxy.client() as client:
        yield client


@pytest.fixture
def prefix(proxy_client: LiteLLMClient) -> Iterator[str]:
    """A fresh alias prefix per test; its keys are deleted afterwards."""
    value = f"bctest-{uuid.uuid4().hex[:8]}-"
    yield value
    leftovers = proxy_client.list_keys(alias_prefix=value)
    proxy_client.delete_keys(tokens=[k.token for k in leftovers if k.token])


@pytest.fixture
def make_key(proxy_client: LiteLLMClient, prefix: str) -> Callable[..., GeneratedKey]:
    def make(suffix: str, models: list[str] | None = None, **metadata: Any) -> GeneratedKey:
        return proxy_client.generate_key(
            alias=prefix + suffix,
            models=models or [SCOPED],
            duration_seconds=3600,
            max_budget=2.5,
            metadata={"tags": ["benchctl", "test"], **metadata},
        )

    return make


def chat(proxy: ProxyStack, key: str, model: str, prompt: str = "Say hello.") -> httpx.Response:
    return httpx.post(
        f"{proxy.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": prompt}]},
        timeout=60,
    )


def error_type(response: httpx.Response) -> str:
    return str(response.json()["error"]["type"])


def test_health(proxy_client: LiteLLMClient):
    assert proxy_client.health()["db"] == "connected"


def test_generate_then_read_back(
    proxy_client: LiteLLMClient, make_key: Callable[..., GeneratedKey], prefix: str
):
    before = datetime.now(UTC)
    first = make_key("one", benchctl={"session_id": "s-1"})
    second = make_key("two", models=[OTHER])
    assert first.key.startswith("sk-") and first.token == hash_key(first.key)
    assert first.key_alias == prefix + "one"
    assert first.expires is not None
    assert timedelta(minutes=59) < first.expires - before < timedelta(minutes=61)
    assert first.key not in repr(first)

    made = proxy_client.requests_made
    found = proxy_client.keys_info(aliases=[prefix + "one", prefix + "gone"], tokens=[second.token])
    assert proxy_client.requests_made == made + 1
    by_alias = {k.key_alias: k for k in found}
    assert set(by_alias) == {prefix + "one", prefix + "two"}
    one = by_alias[prefix + "one"]
    assert one.models == (SCOPED,) and one.max_budget == 2.5
    assert one.metadata == {"tags": ["benchctl", "test"], "benchctl": {"session_id": "s-1"}}
    assert not one.blocked and not one.expired and one.expires is not None
    # Stored to the millisecond.
    assert abs(one.expires - first.expires) < timedelta(milliseconds=1)
    # /v2/key/info strips the hash.
    assert one.token is None
    assert proxy_client.keys_info(aliases=[prefix + "gone"]) == []

    made = proxy_client.requests_made
    listed = proxy_client.list_keys(alias_prefix=prefix)
    assert [(k.key_alias, k.token) for k in listed] == [
        (prefix + "one", first.token),
        (prefix + "two", second.token),
    ]
    assert proxy_client.count_keys(alias_prefix=prefix) == 2
    assert proxy_client.requests_made == made + 2


def test_list_keys_pages_on_the_real_proxy(
    proxy_client: LiteLLMClient,
    make_key: Callable[..., GeneratedKey],
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
):
    tokens = {make_key(f"k{i}").token for i in range(5)}
    # Contains the prefix, but does not start with it: the proxy matches it, list_keys drops it.
    decoy = proxy_client.generate_key(
        alias="x" + prefix, models=[SCOPED], duration_seconds=60, max_budget=None, metadata={}
    )
    try:
        monkeypatch.setattr(client_module, "PAGE_SIZE", 2)
        made = proxy_client.requests_made
        listed = proxy_client.list_keys(alias_prefix=prefix)
        assert proxy_client.requests_made == made + 3
        assert {k.token for k in listed} == tokens
        assert [k.key_alias for k in listed] == [f"{prefix}k{i}" for i in range(5)]
        assert proxy_client.count_keys(alias_prefix=prefix) == 6
    finally:
        proxy_client.delete_keys(tokens=[decoy.token])


def test_a_key_calls_its_model_only(
    litellm_proxy: ProxyStack, make_key: Callable[..., GeneratedKey]
):
    key = make_key("scoped")
    answer = chat(litellm_proxy, key.key, SCOPED)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-litellm-model-group"] == SCOPED
    assert answer.headers["x-litellm-model-api-base"].startswith(litellm_proxy.sim_url)
    refused = chat(litellm_proxy, key.key, OTHER)
    assert refused.status_code == 403
    assert error_type(refused) == "key_model_access_denied"
    with pytest.raises(ProxyError, match="HTTP 403 \\[key_model_access_denied\\]") as caught:
        check_response(refused, admin=False)
    assert type(caught.value) is ProxyError


def test_update_replaces_metadata(
    proxy_client: LiteLLMClient, make_key: Callable[..., GeneratedKey]
):
    key = make_key("upd", benchctl={"session_id": "s-2"})
    updated = proxy_client.update_key(
        key.token,
        metadata={"benchctl": {"session_id": "s-2", "finalized": "yes"}},
        models=[SCOPED, OTHER],
        max_budget=4.0,
        duration_seconds=120,
    )
    assert updated.token == key.token
    assert updated.metadata == {"benchctl": {"session_id": "s-2", "finalized": "yes"}}
    assert updated.models == (SCOPED, OTHER) and updated.max_budget == 4.0
    assert updated.expires is not None
    assert updated.expires - datetime.now(UTC) < timedelta(seconds=125)
    (stored,) = proxy_client.keys_info(tokens=[key.token])
    assert stored.metadata == updated.metadata


def test_block_and_unblock(
    litellm_proxy: ProxyStack, proxy_client: LiteLLMClient, make_key: Callable[..., GeneratedKey]
):
    key = make_key("blk")
    proxy_client.block_key(key.token)
    refused = chat(litellm_proxy, key.key, SCOPED)
    assert refused.status_code == 401 and "Key is blocked" in refused.json()["error"]["message"]
    (info,) = proxy_client.keys_info(tokens=[key.token])
    assert info.blocked
    proxy_client.unblock_key(key.token)
    # Accepted again; the simulated model may still fail the call itself (a 500 by its seed).
    again = chat(litellm_proxy, key.key, SCOPED, "Say hello again.")
    assert again.status_code in (200, 429, 500), again.text
    with pytest.raises(ProxyError, match=r"HTTP 404.*Key not found"):
        proxy_client.block_key("0" * 64)


def test_delete_is_idempotent(
    litellm_proxy: ProxyStack,
    proxy_client: LiteLLMClient,
    make_key: Callable[..., GeneratedKey],
    prefix: str,
):
    by_token, by_alias = make_key("del1"), make_key("del2")
    proxy_client.delete_keys(tokens=[by_token.token, "f" * 64])
    proxy_client.delete_keys(aliases=[by_alias.key_alias, prefix + "never-was"])
    refused = chat(litellm_proxy, by_token.key, SCOPED)
    assert refused.status_code == 401 and error_type(refused) == "token_not_found_in_db"
    made = proxy_client.requests_made
    proxy_client.delete_keys(tokens=[by_token.token], aliases=[by_alias.key_alias])
    assert proxy_client.requests_made == made + 2
    assert proxy_client.list_keys(alias_prefix=prefix) == []


def test_taken_alias_is_refused(make_key: Callable[..., GeneratedKey]):
    make_key("same")
    with pytest.raises(ProxyError, match=r"HTTP 400.*already exists"):
        make_key("same")


def test_wrong_master_key(litellm_proxy: ProxyStack):
    wrong = "sk-wrong-master-key-123456"
    with LiteLLMClient(litellm_proxy.url, wrong) as client:
        with pytest.raises(ProxyAuthError, match="BENCHCTL_PROXY_MASTER_KEY") as caught:
            client.list_keys(alias_prefix="bctest-")
        assert wrong not in str(caught.value)
        with pytest.raises(ProxyAuthError):
            _generate(client)


def test_session_key_is_not_an_admin_key(
    litellm_proxy: ProxyStack, make_key: Callable[..., GeneratedKey]
):
    key = make_key("notadmin")
    with LiteLLMClient(litellm_proxy.url, key.key) as client:
        # 401 "Only proxy admin can be used to generate ... keys".
        with pytest.raises(ProxyAuthError) as caught:
            _generate(client)
        assert key.key not in str(caught.value)
        # 403 "You are not authorized to access this endpoint".
        with pytest.raises(ProxyAuthError):
            client.count_keys(alias_prefix="bctest-")


def test_unknown_model_alias(
    litellm_proxy: ProxyStack, proxy_client: LiteLLMClient, make_key: Callable[..., GeneratedKey]
):
    # 1.106.2 creates a key for a model its config does not have...
    key = make_key("nomodel", models=["no-such-variant"])
    assert key.token == hash_key(key.key)
    # ...and refuses the call instead.
    answer = chat(litellm_proxy, key.key, "no-such-variant")
    assert answer.status_code == 400
    with pytest.raises(ProxyModelError, match="no model no-such-variant"):
        check_response(answer, admin=False)
    # So check the aliases before creating keys for them, in one request.
    made = proxy_client.requests_made
    with pytest.raises(ProxyModelError, match="no model no-such-variant: render"):
        proxy_client.require_models([SCOPED, "no-such-variant"])
    assert proxy_client.requests_made == made + 1
    proxy_client.require_models([SCOPED, OTHER])


def test_enterprise_only_features(litellm_proxy: ProxyStack, make_key: Callable[..., GeneratedKey]):
    key = make_key("ent")
    headers = {"Authorization": f"Bearer {litellm_proxy.master_key}"}
    regenerate = httpx.post(
        f"{litellm_proxy.url}/key/{key.token}/regenerate", headers=headers, json={}, timeout=30
    )
    assert regenerate.status_code == 500
    with pytest.raises(ProxyEnterpriseOnly):
        check_response(regenerate, admin=True)
    # Key-level `tags` are Enterprise-only too, hence metadata.tags.
    tagged = httpx.post(
        f"{litellm_proxy.url}/key/generate",
        headers=headers,
        json={"key_alias": f"{key.key_alias}-tags", "models": [SCOPED], "tags": ["x"]},
        timeout=30,
    )
    assert not tagged.is_success
    with pytest.raises(ProxyEnterpriseOnly):
        check_response(tagged, admin=True)
