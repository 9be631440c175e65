//! Audit is read-only by construction: every ARM exchange goes through [`ReadOnly`], which
//! refuses anything but a GET (a resource read or a list page) before it reaches the wire.
//! POST is refused too: `listKeys` and `regenerateKey` are POSTs, and audit never needs a key.

use std::sync::Arc;

use async_trait::async_trait;

use crate::arm::{lro, retry, ArmApi, ArmError, ArmRequest, ArmResponse, Method, Stats};

/// An [`ArmApi`] that only sends GET requests.
pub struct ReadOnly(pub Arc<dyn ArmApi>);

#[async_trait]
impl ArmApi for ReadOnly {
    async fn send(&self, req: ArmRequest) -> Result<ArmResponse, ArmError> {
        if req.method != Method::Get {
            return Err(ArmError::Config(format!(
                "audit is read-only: refused {:?} {}",
                req.method, req.path
            )));
        }
        self.0.send(req).await
    }

    fn lro_options(&self) -> lro::LroOptions {
        self.0.lro_options()
    }

    fn retry_policy(&self) -> retry::RetryPolicy {
        self.0.retry_policy()
    }

    fn on_poll(&self) {
        self.0.on_poll()
    }

    fn stats(&self) -> Stats {
        self.0.stats()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;

    /// Records every request that reaches it and answers 200 with an empty list.
    #[derive(Default)]
    struct Recording(Mutex<Vec<Method>>);

    #[async_trait]
    impl ArmApi for Recording {
        async fn send(&self, req: ArmRequest) -> Result<ArmResponse, ArmError> {
            self.0.lock().unwrap().push(req.method);
            Ok(ArmResponse {
                status: 200,
                headers: BTreeMap::new(),
                body: Some(json!({"value": []})),
            })
        }
    }

    #[tokio::test]
    async fn reads_pass_and_every_write_verb_is_refused_before_the_wire() {
        let inner = Arc::new(Recording::default());
        let arm = ReadOnly(inner.clone());
        let path = "/subscriptions/s/providers/Microsoft.CognitiveServices/accounts";
        assert!(arm.list(path, "2024-10-01").await.unwrap().is_empty());
        for m in [Method::Put, Method::Patch, Method::Delete, Method::Post] {
            let err = arm
                .send(ArmRequest::new(m, format!("{path}/a"), "2024-10-01"))
                .await
                .unwrap_err();
            assert!(err.to_string().contains("read-only"), "{err}");
        }
        assert_eq!(*inner.0.lock().unwrap(), [Method::Get]);
    }
}
