"""A minimal custom-runtime loop for lambda_function.py: polls the Lambda Runtime API at
$AWS_LAMBDA_RUNTIME_API (GET /2018-06-01/runtime/invocation/next), calls lambda_handler and posts
the response or the error, as AWS's Python runtime does. Used by benches/lambda-vs-python."""

import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
BASE = "http://%s/2018-06-01/runtime" % os.environ["AWS_LAMBDA_RUNTIME_API"]


def post(path, body):
    request = urllib.request.Request(
        BASE + path, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request).read()


try:
    import lambda_function
except Exception as e:  # an init error, as Lambda reports it
    post("/init/error", {"errorType": type(e).__name__, "errorMessage": str(e)})
    raise

while True:
    with urllib.request.urlopen(BASE + "/invocation/next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(r.read())
    try:
        result = lambda_function.lambda_handler(event, None)
        post("/invocation/%s/response" % request_id, result)
    except Exception as e:
        post("/invocation/%s/error" % request_id, {"errorType": type(e).__name__, "errorMessage": str(e)})
