"""An OpenRouter key rotation Lambda written the way AWS's SecretsManagerRotationTemplate
(aws-samples/aws-secrets-manager-rotation-lambdas) structures one: a handler that describes the
secret and checks RotationEnabled and the token's stages, then createSecret / setSecret /
testSecret / finishSecret. boto3 for Secrets Manager, requests for OpenRouter.

It is the baseline of `benches/lambda-vs-python`, not part of rotor: it stores a
document shaped like rotor's (api_key, key_hash, key_name, created_at, rotation), creates the new
key with POST /keys (limit taken from the current document), tests it with GET /key, and deletes
the previous key by hash at finishSecret. It has none of rotor's safety (no lease, no intent, no
grace period, no recovery of a key created before a crash).

Two deliberate differences from the template, both in the baseline's favour: the Secrets Manager
client and the HTTP session are created once per container (the template builds its client in
every invocation), and the management key is read once per container from the secret named by
OPENROUTER_MANAGEMENT_KEY_SECRET_ID, as rotor's bootstrap does.
"""

import datetime
import json
import logging
import os

import boto3
import requests

logger = logging.getLogger()
logger.setLevel(logging.INFO)

OPENROUTER_BASE_URL = os.environ.get("OPENROUTER_BASE_URL", "https://openrouter.ai/api/v1").rstrip("/")
SERVICE_CLIENT = boto3.client("secretsmanager", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
HTTP = requests.Session()
_MANAGEMENT_KEY = None


def management_key(service_client):
    global _MANAGEMENT_KEY
    if _MANAGEMENT_KEY is None:
        secret_id = os.environ["OPENROUTER_MANAGEMENT_KEY_SECRET_ID"]
        _MANAGEMENT_KEY = service_client.get_secret_value(SecretId=secret_id)["SecretString"].strip()
    return _MANAGEMENT_KEY


def lambda_handler(event, context):
    """Secrets Manager's rotation event: SecretId, ClientRequestToken, Step."""
    arn = event["SecretId"]
    token = event["ClientRequestToken"]
    step = event["Step"]
    service_client = SERVICE_CLIENT

    # Make sure the version is staged correctly (the template's checks).
    metadata = service_client.describe_secret(SecretId=arn)
    if not metadata.get("RotationEnabled"):
        raise ValueError("Secret %s is not enabled for rotation" % arn)
    versions = metadata["VersionIdsToStages"]
    if token not in versions:
        raise ValueError("Secret version %s has no stage for rotation of secret %s." % (token, arn))
    if "AWSCURRENT" in versions[token]:
        logger.info("Secret version %s already set as AWSCURRENT for secret %s.", token, arn)
        return
    if "AWSPENDING" not in versions[token]:
        raise ValueError("Secret version %s not set as AWSPENDING for rotation of secret %s." % (token, arn))

    if step == "createSecret":
        create_secret(service_client, arn, token)
    elif step == "setSecret":
        set_secret(service_client, arn, token)
    elif step == "testSecret":
        test_secret(service_client, arn, token)
    elif step == "finishSecret":
        finish_secret(service_client, arn, token)
    else:
        raise ValueError("Invalid step parameter")


def create_secret(service_client, arn, token):
    """Creates a new OpenRouter key and stores it as AWSPENDING under the token, unless that
    version already holds a value."""
    current = json.loads(service_client.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"])
    try:
        service_client.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
        logger.info("createSecret: Successfully retrieved secret for %s.", arn)
        return
    except service_client.exceptions.ResourceNotFoundException:
        pass
    rotation = current.get("rotation") or {}
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    name = "%s rotated %s [template:%s]" % (arn.split(":")[-1], now[:10], token.replace("-", "")[:12])
    body = {"name": name}
    limit = rotation.get("limit")
    if isinstance(limit, (int, float)):
        body["limit"] = limit
    response = HTTP.post(
        OPENROUTER_BASE_URL + "/keys",
        json=body,
        headers={"Authorization": "Bearer " + management_key(service_client)},
        timeout=30,
    )
    response.raise_for_status()
    created = response.json()
    document = {
        "api_key": created["key"],
        "key_hash": created["data"]["hash"],
        "key_name": name,
        "created_at": now,
        "expires_at": None,
        "rotation": rotation,
        "older_keys": [],
    }
    service_client.put_secret_value(
        SecretId=arn, ClientRequestToken=token, SecretString=json.dumps(document), VersionStages=["AWSPENDING"]
    )
    logger.info("createSecret: put key %s for ARN %s and version %s.", document["key_hash"], arn, token)


def set_secret(service_client, arn, token):
    """Nothing to set: POST /keys already applied the name and the limit."""
    logger.info("setSecret: nothing to set for %s (the key was created with its settings).", arn)


def test_secret(service_client, arn, token):
    """The AWSPENDING key must authenticate: GET /key with it."""
    pending = json.loads(
        service_client.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")["SecretString"]
    )
    response = HTTP.get(
        OPENROUTER_BASE_URL + "/key", headers={"Authorization": "Bearer " + pending["api_key"]}, timeout=30
    )
    if response.status_code != 200:
        raise ValueError("testSecret: key %s answered %d" % (pending["key_hash"], response.status_code))
    logger.info("testSecret: key %s works for %s.", pending["key_hash"], arn)


def finish_secret(service_client, arn, token):
    """Moves AWSCURRENT to the token's version (the template's two stage updates), then deletes the
    previous key at OpenRouter by its hash."""
    metadata = service_client.describe_secret(SecretId=arn)
    current_version = None
    for version, stages in metadata["VersionIdsToStages"].items():
        if "AWSCURRENT" in stages:
            if version == token:
                logger.info("finishSecret: Version %s already marked as AWSCURRENT for %s", version, arn)
                return
            current_version = version
            break
    previous = json.loads(service_client.get_secret_value(SecretId=arn, VersionId=current_version)["SecretString"])
    service_client.update_secret_version_stage(
        SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token, RemoveFromVersionId=current_version
    )
    service_client.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=token)
    old_hash = previous.get("key_hash")
    if old_hash:
        response = HTTP.delete(
            OPENROUTER_BASE_URL + "/keys/" + old_hash,
            headers={"Authorization": "Bearer " + management_key(service_client)},
            timeout=30,
        )
        if response.status_code not in (200, 404):
            response.raise_for_status()
    logger.info("finishSecret: set AWSCURRENT to version %s for %s, deleted key %s.", token, arn, old_hash)
