//! Workspaces (`/workspaces*`).

use super::*;

impl Client {
    /// `GET /workspaces` (every page). Retried.
    pub async fn list_workspaces(&self) -> Result<Vec<Workspace>, Error> {
        self.list_paged("/workspaces", &["workspaces"], Vec::new())
            .await
    }

    /// `GET /workspaces/{id}` (`id` or slug). Retried.
    pub async fn get_workspace(&self, id: &str) -> Result<Workspace, Error> {
        check_id(id, "workspace id")?;
        let segments = ["workspaces", id];
        let call = self.management_call(
            Method::GET,
            "/workspaces/{id}",
            &segments,
            Vec::new(),
            None,
            Repeat::Idempotent,
        );
        let answer = self.execute(call).await.map_err(|f| f.error)?;
        Ok(decode::<Data<Workspace>>("GET /workspaces/{id}", &answer)?.data)
    }
}
