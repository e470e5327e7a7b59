"""The `openai` judge backend against a real OpenAI-compatible server (`transformers serve` on a tiny model
built here) and against a scripted local stub for timeouts, 4xx and 5xx replies. Everything on 127.0.0.1."""
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from qvedbench.judge import JudgeConfigError, JudgeUnavailableError, judge_predictions
from qvedbench.judge.openai_compat import OpenAIJudge
from qvedbench.secrets import MissingSecretError

GOOD = {"clinical_accuracy": 4, "actionability": 3, "root_cause": 2, "completeness": 5, "overall": 3.5, "holistic": 4}
SECRET = "sk-test-0123456789-very-secret"
SAMPLE = {"id": "clip0", "exercise": "squats", "reference": "squats - knees caving in", "prediction": "squats - ok"}


# -- scripted stub server ------------------------------------------------------------------------------------

class Stub:
    """Answers chat requests following a script: 'ok', 'garbage', 'slow', 500, 429, 400, 401 ..."""

    def __init__(self, script):
        self.script, self.requests = list(script), []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append({"body": body, "auth": self.headers.get("Authorization"),
                                      "port": self.client_address[1]})
                action = stub.script.pop(0) if stub.script else "ok"
                if action == "slow":
                    time.sleep(1.5)
                    action = "ok"
                if action in ("ok", "garbage"):
                    content = json.dumps(GOOD) if action == "ok" else "Looks great!"
                    self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                     "choices": [{"index": 0, "finish_reason": "stop",
                                                  "message": {"role": "assistant", "content": content}}]})
                else:
                    # echo the Authorization header back, as a careless server might: it must not leak
                    self._send(action, {"error": {"message": f"scripted {action} for {self.headers.get('Authorization')}"}})
                    if action >= 500:
                        self.close_connection = True  # like a server that drops the connection after a 500

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub_factory():
    stubs = []

    def make(script):
        stubs.append(Stub(script))
        return stubs[-1]

    yield make
    for stub in stubs:
        stub.close()


def backend(url, **kwargs):
    sleeps = []
    judge = OpenAIJudge(url, "judge-model", sleep=sleeps.append, **kwargs)
    return judge, sleeps


def test_timeout_is_retried_with_backoff(stub_factory):
    stub = stub_factory(["slow", "ok"])
    judge, sleeps = backend(stub.url, timeout_s=0.5, backoff_s=0.01)
    result = judge.judge(SAMPLE)
    assert result.ok and result.scores == GOOD and result.attempts == 2 and sleeps == [0.01]


def test_500_then_success_reconnects(stub_factory):
    stub = stub_factory([500, 503, "ok"])
    judge, sleeps = backend(stub.url, backoff_s=0.01)
    result = judge.judge(SAMPLE)
    assert result.ok and result.attempts == 3 and sleeps == [0.01, 0.02]
    assert len({r["port"] for r in stub.requests}) == 3  # a fresh connection after each 500


def test_429_is_retried_and_backoff_is_capped(stub_factory):
    stub = stub_factory([429, 429, 429, "ok"])
    judge, sleeps = backend(stub.url, backoff_s=1.0, max_backoff_s=2.5)
    assert judge.judge(SAMPLE).ok and sleeps == [1.0, 2.0, 2.5]


def test_4xx_is_a_recorded_failure_without_retry(stub_factory, tmp_path):
    stub = stub_factory([400])
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps(SAMPLE) + "\n")
    judge, sleeps = backend(stub.url)
    rows = judge_predictions(preds, tmp_path / "j.jsonl", judge)
    assert rows[0]["status"] == "failed" and "HTTP 400" in rows[0]["error"] and rows[0]["overall"] is None
    assert rows[0]["attempts"] == 1 and sleeps == [] and len(stub.requests) == 1


def test_auth_error_stops_the_job(stub_factory):
    judge, _ = backend(stub_factory([401]).url)
    with pytest.raises(JudgeConfigError, match="401"):
        judge.judge(SAMPLE)


def test_exhausted_retries_raise_and_resume_later(stub_factory, tmp_path):
    stub = stub_factory([500] * 3)
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps(SAMPLE) + "\n")
    judge, _ = backend(stub.url, max_retries=2, backoff_s=0.0)
    with pytest.raises(JudgeUnavailableError, match="3 times"):
        judge_predictions(preds, tmp_path / "j.jsonl", judge)
    rows = judge_predictions(preds, tmp_path / "j.jsonl", judge)  # the stub now answers
    assert rows[0]["status"] == "ok"


def test_unparseable_reply_is_a_failure_with_raw_text(stub_factory):
    judge, _ = backend(stub_factory(["garbage"]).url)
    result = judge.judge(SAMPLE)
    assert not result.ok and result.raw == "Looks great!" and result.scores is None


def test_request_is_greedy_and_carries_the_key_from_the_environment(stub_factory, monkeypatch):
    stub = stub_factory(["ok"])
    monkeypatch.setenv("QVED_JUDGE_API_KEY", SECRET)
    judge, _ = backend(stub.url, api_key_env="QVED_JUDGE_API_KEY")
    judge.judge(SAMPLE)
    sent = stub.requests[0]
    assert sent["auth"] == f"Bearer {SECRET}" and sent["body"]["temperature"] == 0
    assert SECRET not in repr(judge)


def test_missing_key_variable_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("QVED_JUDGE_API_KEY", raising=False)
    with pytest.raises(MissingSecretError, match="QVED_JUDGE_API_KEY"):
        OpenAIJudge("http://127.0.0.1:9/v1", "m", api_key_env="QVED_JUDGE_API_KEY")


def test_api_key_never_reaches_outputs_or_logs(stub_factory, monkeypatch, tmp_path, capfd):
    stub = stub_factory([400, 500, "garbage", "ok"])
    monkeypatch.setenv("QVED_JUDGE_API_KEY", SECRET)
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({**SAMPLE, "id": f"c{i}"}) + "\n" for i in range(3)))
    judge, _ = backend(stub.url, api_key_env="QVED_JUDGE_API_KEY", backoff_s=0.0)
    rows = judge_predictions(preds, tmp_path / "j.jsonl", judge)
    assert [r["status"] for r in rows] == ["failed", "failed", "ok"]
    assert "scripted 400" in rows[0]["error"]  # the server's message is kept, with the echoed key masked
    written = (tmp_path / "j.jsonl").read_text()
    captured = capfd.readouterr()
    assert SECRET not in written and SECRET not in captured.out + captured.err


# -- a real OpenAI-compatible server -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def served_judge(tmp_path_factory):
    pytest.importorskip("fastapi")
    from qvedbench.judge.tiny import build_fixed_reply_model

    model = build_fixed_reply_model(tmp_path_factory.mktemp("judge") / "fixed", json.dumps(GOOD))
    exe = Path(sys.executable).with_name("transformers")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([str(exe), "serve", str(model), "--host", "127.0.0.1", "--port", "0", "--device", "cpu"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    url, lines = None, []
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            match = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
            if match:
                url = match.group(1)
                break
        if url is None:
            pytest.fail("transformers serve did not start:\n" + "".join(lines[-20:]))
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining the pipe
        yield url + "/v1", str(model)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_real_server_reply_is_parsed(served_judge, tmp_path):
    url, model = served_judge
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({**SAMPLE, "id": f"c{i}"}) + "\n" for i in range(2)))
    rows = judge_predictions(preds, tmp_path / "j.jsonl", OpenAIJudge(url, model, timeout_s=60),
                             context={"model": "m", "run": "base", "variant": "clean"})
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert {k: rows[0][k] for k in GOOD} == GOOD and rows[0]["parse_mode"] == "strict"
    assert rows[0]["backend"] == "openai" and rows[0]["judge_model"] == model


def test_real_server_4xx_is_recorded_not_retried(served_judge):
    url, _ = served_judge
    sleeps = []
    judge = OpenAIJudge(url, "some-other-model", sleep=sleeps.append)  # the server is pinned: HTTP 400
    result = judge.judge(SAMPLE)
    assert not result.ok and "HTTP 400" in result.error and result.attempts == 1 and sleeps == []


def test_real_server_timeout_is_retried(served_judge):
    url, model = served_judge
    judge = OpenAIJudge(url, model, timeout_s=0.0001, max_retries=1, backoff_s=0.0, sleep=lambda s: None)
    with pytest.raises(JudgeUnavailableError, match="2 times"):
        judge.judge(SAMPLE)
    judge.timeout_s = 60.0
    judge.close()
    assert judge.judge(SAMPLE).ok  # the same backend recovers once the server answers in time


def test_real_server_500_is_retried_on_a_new_connection(served_judge):
    url, model = served_judge

    class FirstRequestMalformed(OpenAIJudge):
        """Sends one request without `messages` first: transformers serve answers 500 and drops the connection."""

        malformed = True

        def _request(self, messages):
            if self.malformed:
                self.malformed = False
                client = self._client or self._connect()
                client.post("/chat/completions", body={"model": self.model}, cast_to=dict)
            return super()._request(messages)

    sleeps = []
    judge = FirstRequestMalformed(url, model, backoff_s=0.01, sleep=sleeps.append)
    result = judge.judge(SAMPLE)
    assert result.ok and result.attempts == 2 and sleeps == [0.01]
