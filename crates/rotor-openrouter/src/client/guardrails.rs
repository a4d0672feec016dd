//! Guardrails and their key assignments (`/guardrails*`).

use super::transport::Count;
use super::*;

impl Client {
    /// `GET /guardrails` (every page), of `workspace_id` or, by default, the default workspace.
    /// Retried.
    pub async fn list_guardrails(
        &self,
        workspace_id: Option<&str>,
    ) -> Result<Vec<Guardrail>, Error> {
        let query = workspace_id
            .map(|w| vec![("workspace_id", w.to_owned())])
            .unwrap_or_default();
        self.list_paged("/guardrails", &["guardrails"], query).await
    }

    /// `GET /guardrails/{id}`. Retried.
    pub async fn get_guardrail(&self, id: &str) -> Result<Guardrail, Error> {
        check_id(id, "guardrail id")?;
        let segments = ["guardrails", id];
        let call = self.management_call(
            Method::GET,
            "/guardrails/{id}",
            &segments,
            Vec::new(),
            None,
            Repeat::Idempotent,
        );
        let answer = self.execute(call).await.map_err(|f| f.error)?;
        Ok(decode::<Data<Guardrail>>("GET /guardrails/{id}", &answer)?.data)
    }

    /// `POST /guardrails` → 201. Retried only on a 429 or a failure to connect (nothing was
    /// created); a lost response is a plain error (list guardrails by name to find out).
    pub async fn create_guardrail(
        &self,
        request: &CreateGuardrailRequest,
    ) -> Result<Guardrail, Error> {
        let body = to_json(request)?;
        let call = self.management_call(
            Method::POST,
            "/guardrails",
            &["guardrails"],
            Vec::new(),
            Some(body),
            Repeat::UnlessDone,
        );
        let answer = self.execute(call).await.map_err(|f| f.error)?;
        Ok(decode::<Data<Guardrail>>("POST /guardrails", &answer)?.data)
    }

    /// `DELETE /guardrails/{id}` (its key assignments go with it). Retried; a 404 on a retry
    /// after a lost response is success.
    pub async fn delete_guardrail(&self, id: &str) -> Result<(), Error> {
        check_id(id, "guardrail id")?;
        let segments = ["guardrails", id];
        let call = self.management_call(
            Method::DELETE,
            "/guardrails/{id}",
            &segments,
            Vec::new(),
            None,
            Repeat::Idempotent,
        );
        match self.execute(call).await {
            Ok(_) => Ok(()),
            Err(Failure {
                error,
                maybe_took_effect: true,
            }) if error.is_not_found() => Ok(()),
            Err(f) => Err(f.error),
        }
    }

    /// `GET /guardrails/{id}/assignments/keys` (every page). Retried.
    pub async fn list_guardrail_key_assignments(
        &self,
        id: &str,
    ) -> Result<Vec<KeyAssignment>, Error> {
        check_id(id, "guardrail id")?;
        self.list_paged(
            "/guardrails/{id}/assignments/keys",
            &["guardrails", id, "assignments", "keys"],
            Vec::new(),
        )
        .await
    }

    /// `GET /guardrails/assignments/keys`: every key assignment of the account. Retried.
    pub async fn list_key_assignments(&self) -> Result<Vec<KeyAssignment>, Error> {
        self.list_paged(
            "/guardrails/assignments/keys",
            &["guardrails", "assignments", "keys"],
            Vec::new(),
        )
        .await
    }

    /// `POST /guardrails/{id}/assignments/keys` `{"key_hashes":[…]}`: assigns the keys; returns
    /// how many were newly assigned. Retried (assigning twice changes nothing, though a retry after
    /// a lost response reports 0 for keys the lost attempt assigned).
    pub async fn assign_keys_to_guardrail(
        &self,
        id: &str,
        key_hashes: &[&str],
    ) -> Result<u64, Error> {
        self.bulk_assignment(id, key_hashes, false).await
    }

    /// `POST /guardrails/{id}/assignments/keys/remove` `{"key_hashes":[…]}`: unassigns the keys;
    /// returns how many were assigned. Retried, like [`Client::assign_keys_to_guardrail`].
    pub async fn unassign_keys_from_guardrail(
        &self,
        id: &str,
        key_hashes: &[&str],
    ) -> Result<u64, Error> {
        self.bulk_assignment(id, key_hashes, true).await
    }

    async fn bulk_assignment(
        &self,
        id: &str,
        key_hashes: &[&str],
        remove: bool,
    ) -> Result<u64, Error> {
        check_id(id, "guardrail id")?;
        if key_hashes.is_empty() || key_hashes.iter().any(|h| h.trim().is_empty()) {
            return Err(Error::InvalidInput {
                message: "key_hashes must be a non-empty list of non-empty key hashes".to_owned(),
            });
        }
        let body = to_json(&serde_json::json!({ "key_hashes": key_hashes }))?;
        let (route, segments): (&'static str, Vec<&str>) = if remove {
            (
                "/guardrails/{id}/assignments/keys/remove",
                vec!["guardrails", id, "assignments", "keys", "remove"],
            )
        } else {
            (
                "/guardrails/{id}/assignments/keys",
                vec!["guardrails", id, "assignments", "keys"],
            )
        };
        let call = self.management_call(
            Method::POST,
            route,
            &segments,
            Vec::new(),
            Some(body),
            Repeat::Idempotent,
        );
        let answer = self.execute(call).await.map_err(|f| f.error)?;
        Ok(decode::<Count>(&format!("POST {route}"), &answer)?.assigned_count)
    }
}
