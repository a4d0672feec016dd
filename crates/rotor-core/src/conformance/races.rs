//! Racing promotes: exactly one of two concurrent promotes wins.

use super::*;

type Promote<'a> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

/// Two promotes with different tokens from the same `from`, started concurrently (a finish and
/// a rollback): exactly one wins, the other gets `Conflict`, stages stay consistent. Repeated
/// `iterations` times on one secret.
pub async fn racing_promotes(store: &dyn SecretStore, prefix: &str, iterations: usize) {
    let c = Case::new(store, prefix, "race");
    race_loop(&c, iterations, |token, from| {
        let secret = c.secret.clone();
        Box::pin(async move { store.promote(&secret, &token, &from).await }) as Promote<'_>
    })
    .await;
}

/// [`racing_promotes`] with each promote in its own `tokio::spawn`ed task (truly parallel on a
/// multi-threaded runtime), for stores that can be shared as `Arc<dyn SecretStore>`.
pub async fn racing_promotes_spawned(store: Arc<dyn SecretStore>, prefix: &str, iterations: usize) {
    let c = Case::new(store.as_ref(), prefix, "race-spawned");
    race_loop(&c, iterations, |token, from| {
        let store = Arc::clone(&store);
        let secret = c.secret.clone();
        let task = tokio::spawn(async move { store.promote(&secret, &token, &from).await });
        Box::pin(async move {
            task.await
                .unwrap_or_else(|e| panic!("conformance: a promote task failed: {e}"))
        }) as Promote<'_>
    })
    .await;
}

async fn race_loop<'a>(
    c: &Case<'a>,
    iterations: usize,
    start: impl Fn(String, String) -> Promote<'a>,
) {
    let (a, va) = (new_token(), sample_document("race"));
    c.create(&a, &va).await;
    let (b, vb) = c.rotate(&a, "race").await;
    let (mut current, mut current_value) = (b, vb);
    let (mut previous, mut previous_value) = (a, va);
    for i in 0..iterations {
        let step = format!("race #{i}");
        let (t, vt) = c.stage_pending("race").await;
        // Alternate which promote starts first.
        let (first, second) = if i % 2 == 0 {
            (t.clone(), previous.clone())
        } else {
            (previous.clone(), t.clone())
        };
        let f1 = start(first.clone(), current.clone());
        let f2 = start(second.clone(), current.clone());
        let (r1, r2) = tokio::join!(f1, f2);
        let winner = match (&r1, &r2) {
            (Ok(()), Err(StoreError::Conflict { .. })) => first,
            (Err(StoreError::Conflict { .. }), Ok(())) => second,
            _ => c.fail(format!(
                "{step}: expected exactly one promote to succeed and the other to get Conflict; \
                 got {:?} and {:?}",
                r1.as_ref().map_err(|e| format!("{}: {e}", kind(e))),
                r2.as_ref().map_err(|e| format!("{}: {e}", kind(e)))
            )),
        };
        let winner_value = if winner == t { vt } else { previous_value };
        let loser = if winner == t {
            previous.clone()
        } else {
            t.clone()
        };
        let desc = c.describe(&step).await;
        if !desc.stages_of(&winner).contains(&Stage::Current)
            || desc.stages_of(&current) != [Stage::Previous]
        {
            c.fail(format!(
                "{step}: after the race the winner {winner} has {:?} and the old current {current} \
                 has {:?}; expected AWSCURRENT and [AWSPREVIOUS]",
                desc.stages_of(&winner),
                desc.stages_of(&current)
            ));
        }
        if desc.stages_of(&loser).iter().any(|s| *s != Stage::Pending) {
            c.fail(format!(
                "{step}: the loser {loser} has stages {:?}",
                desc.stages_of(&loser)
            ));
        }
        c.expect_current(&step, &winner, &winner_value).await;
        c.expect_value(
            &step,
            VersionSelector::Stage(Stage::Previous),
            &current,
            &current_value,
        )
        .await;
        // Tidy for the next round: abandon the losing rotation, or clear a lingering Pending.
        c.ok("clear_pending", c.store.clear_pending(&c.secret, &t).await);
        previous = std::mem::replace(&mut current, winner);
        previous_value = std::mem::replace(&mut current_value, winner_value);
    }
}
