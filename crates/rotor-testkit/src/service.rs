//! The services `tests/run` starts (OpenBao, LocalStack/moto, the Python SDK) are found through
//! `ROTOR_TEST_*` variables. A test that needs one fails when it is missing, naming what to run.

/// The value of `name`, or a panic naming the service and the command that provides it.
pub fn required_env(name: &str, service: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set, so this test cannot reach {service}: run tests/run (which starts \
             it and exports {name}), or `source` the environment file it prints"
        ),
    }
}
