"""The local Lambda host: concurrent invocations in separate containers never see each other's event."""

import json
import threading
from pathlib import Path

from devstack.lambda_host import FunctionCode, LambdaHost, http_api_event

ECHO = '''
import time
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

app = APIGatewayHttpResolver()


@app.post("/echo")
def echo():
    before = app.current_event.body
    time.sleep(0.3)  # the other invocation resolves its own event meanwhile
    return {"before": before, "after": app.current_event.body}


def lambda_handler(event, context):
    return app.resolve(event, context)
'''


def test_concurrent_invocations_each_read_their_own_event(tmp_path: Path):
    # GIVEN a Powertools HTTP function whose route reads the current event before and after a pause
    # (Powertools keeps it on a class shared by every resolver of a process)
    (tmp_path / "echo_app.py").write_text(ECHO)
    code = FunctionCode(code_dir=tmp_path, layer_dirs=(), handler="echo_app.lambda_handler", timeout_ms=5000)
    host = LambdaHost(code, {}, lambda module: None, max_containers=2)
    answers: dict[str, dict] = {}

    def call(body: str) -> None:
        answers[body] = host.invoke(http_api_event("POST", "/echo", "", {}, body.encode(),
                                                   route_key="POST /echo"))

    # WHEN two requests run at once
    threads = [threading.Thread(target=call, args=(body,)) for body in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    # THEN each answer is built from its own event from start to end

    for body, answer in answers.items():
        assert answer["statusCode"] == 200
        assert json.loads(answer["body"]) == {"before": body, "after": body}
    assert set(answers) == {"first", "second"}
