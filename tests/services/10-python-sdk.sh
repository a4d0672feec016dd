# Sourced by tests/run. OpenRouter's official Python SDK in a venv (cached in $ROTOR_TOOLS), for
# crates/rotor-emulator/tests/python_sdk.rs, which runs tests/sdk/python_sdk_against_emulator.py
# against the in-process emulator. No server to start: exports the venv's python.
ROTOR_PY_SDK_VERSION=1.3.84
ROTOR_PY_SDK_VENV="$ROTOR_TOOLS/python-sdk-openrouter-$ROTOR_PY_SDK_VERSION"
if [ ! -x "$ROTOR_PY_SDK_VENV/bin/python" ] || ! "$ROTOR_PY_SDK_VENV/bin/python" -c "import openrouter" 2>/dev/null; then
  log "installing openrouter==$ROTOR_PY_SDK_VERSION (Python SDK) into $ROTOR_PY_SDK_VENV"
  rm -rf "$ROTOR_PY_SDK_VENV"
  python3 -m venv "$ROTOR_PY_SDK_VENV"
  "$ROTOR_PY_SDK_VENV/bin/pip" install --quiet --disable-pip-version-check "openrouter==$ROTOR_PY_SDK_VERSION"
fi
"$ROTOR_PY_SDK_VENV/bin/python" -c "import openrouter" || { log "the openrouter Python SDK venv is broken: $ROTOR_PY_SDK_VENV"; return 1; }
export ROTOR_TEST_SDK_PYTHON="$ROTOR_PY_SDK_VENV/bin/python"
