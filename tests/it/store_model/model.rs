//! The runner: applies each operation to both stores, normalises what they answer, compares, then
//! compares everything both hold. Redis first, the embedded store right after, one read at a time,
//! so an expiry falls between the two reads of one comparison only by a rare accident.

use super::*;

/// One store under test and the ids it answered so far (ids are compared by rank).
struct Side {
    store: Arc<dyn Store>,
    signals: Vec<String>,
    events: Vec<EventId>,
}

impl Side {
    fn signal_rank(&mut self, id: &str) -> usize {
        match self.signals.iter().position(|s| s == id) {
            Some(i) => i,
            None => {
                self.signals.push(id.to_owned());
                self.signals.len() - 1
            }
        }
    }

    fn event_rank(&mut self, id: EventId) -> usize {
        match self.events.iter().position(|e| *e == id) {
            Some(i) => i,
            None => {
                self.events.push(id);
                self.events.len() - 1
            }
        }
    }

    fn signals(&mut self, r: Result<Vec<Signal>, StoreError>) -> String {
        match r {
            Ok(v) => {
                let v: Vec<(usize, String)> = v
                    .into_iter()
                    .map(|s| (self.signal_rank(&s.id), s.chat_id))
                    .collect();
                format!("{v:?}")
            }
            Err(_) => "error".into(),
        }
    }

    fn nth_signal(&self, nth: usize) -> Option<Signal> {
        (!self.signals.is_empty()).then(|| Signal {
            id: self.signals[nth % self.signals.len()].clone(),
            chat_id: String::new(),
        })
    }
}

fn show<T: std::fmt::Debug>(r: Result<T, StoreError>) -> String {
    match r {
        Ok(v) => format!("{v:?}"),
        Err(_) => "error".into(),
    }
}

fn sorted(r: Result<Vec<String>, StoreError>) -> String {
    show(r.map(|mut v| {
        v.sort();
        v
    }))
}

/// A case on both stores.
pub(super) struct Case {
    sides: [Side; 2],
    memory: Arc<MemoryStore>,
    redis: Client,
    prefix: String,
    /// Dedupe keys accepted so far (their TTLs are compared).
    seen: Vec<String>,
    trace: Vec<String>,
}

/// Run `$body` (an expression using `$s`, the side) on Redis, then on the embedded store, and
/// compare the two strings it makes.
macro_rules! both {
    ($case:ident, $what:expr, |$s:ident| $body:expr) => {{
        let r = {
            let $s = &mut $case.sides[0];
            $body
        };
        let m = {
            let $s = &mut $case.sides[1];
            $body
        };
        $case.same($what, r, m)?;
    }};
}

/// `PTTL` of every key.
const PTTLS_LUA: &str = "local r = {} for i, k in ipairs(KEYS) do r[i] = redis.call('PTTL', k) end return r";

static CASE_NO: AtomicUsize = AtomicUsize::new(0);

impl Case {
    pub(super) async fn new(server: &RedisServer) -> Case {
        let prefix = format!("model{}:", CASE_NO.fetch_add(1, Ordering::SeqCst));
        let redis = RedisStore::connect(&server.url(), &prefix)
            .await
            .expect("connect");
        let client = Builder::from_config(fred::prelude::Config::from_url(&server.url()).expect("url"))
            .build()
            .expect("client");
        client.init().await.expect("connect the inspecting client");
        let memory = Arc::new(MemoryStore::new());
        let side = |store: Arc<dyn Store>| Side {
            store,
            signals: Vec::new(),
            events: Vec::new(),
        };
        Case {
            sides: [side(Arc::new(redis)), side(memory.clone())],
            memory,
            redis: client,
            prefix,
            seen: Vec::new(),
            trace: Vec::new(),
        }
    }

    pub(super) async fn finish(self) {
        let _ = self.redis.quit().await;
    }

    fn same(&self, what: &str, redis: String, memory: String) -> Result<(), TestCaseError> {
        if redis == memory {
            return Ok(());
        }
        Err(TestCaseError::fail(format!(
            "{what}: Redis {redis} but the embedded store {memory}\nafter: {}",
            self.trace.join("; ")
        )))
    }

    /// Run every operation, comparing after each.
    pub(super) async fn run(&mut self, ops: &[Op]) -> Result<(), TestCaseError> {
        for op in ops {
            self.trace.push(format!("{op:?}"));
            self.apply(op).await?;
            self.compare_holdings().await?;
        }
        Ok(())
    }

    async fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let what = format!("{op:?}");
        let what = what.as_str();
        match op {
            Op::Wait => tokio::time::sleep(WAIT).await,
            Op::Ping => both!(self, what, |s| show(s.store.ping().await)),
            Op::Accept { chat, msg, ttl } => {
                let key = format!("{}:{msg}", CHATS[*chat]);
                let e = env(CHATS[*chat], &format!("m{msg}"));
                both!(self, what, |s| show(s.store.accept(&key, ttl.get(), &e).await));
                self.seen.push(key);
            }
            Op::NextSignals { consumer, max } => {
                let block = Duration::from_millis(5);
                both!(self, what, |s| {
                    let r = s.store.next_signals(CONSUMERS[*consumer], *max, block).await;
                    s.signals(r)
                });
            }
            Op::Ack { nth } => both!(self, what, |s| match s.nth_signal(*nth) {
                Some(sig) => show(s.store.ack_signal(&sig).await),
                None => "no signal".into(),
            }),
            Op::Reclaim {
                consumer,
                idle,
                count,
            } => both!(self, what, |s| {
                let r = s
                    .store
                    .reclaim_signals(CONSUMERS[*consumer], IDLE[*idle], *count)
                    .await;
                s.signals(r)
            }),
            Op::QueueStats => self.compare_stats().await?,
            Op::Signal { chat } => both!(self, what, |s| show(s.store.signal(CHATS[*chat]).await)),
            Op::TryLock { name, holder, ttl } => both!(self, what, |s| show(
                s.store.try_lock(LOCKS[*name], HOLDERS[*holder], ttl.get()).await
            )),
            Op::AcquireLease { chat, holder, ttl } => both!(self, what, |s| show(
                s.store
                    .acquire_lease(CHATS[*chat], HOLDERS[*holder], ttl.get())
                    .await
            )),
            Op::RenewLease {
                chat,
                holder,
                ttl,
                nth,
                consumer,
            } => both!(self, what, |s| {
                let sig = s.nth_signal(*nth).unwrap_or(Signal {
                    id: "0-1".into(),
                    chat_id: String::new(),
                });
                show(
                    s.store
                        .renew_lease(
                            CHATS[*chat],
                            HOLDERS[*holder],
                            ttl.get(),
                            &sig,
                            CONSUMERS[*consumer],
                        )
                        .await,
                )
            }),
            Op::ReleaseIfIdle { chat, holder } => both!(self, what, |s| show(
                s.store
                    .release_lease_if_idle(CHATS[*chat], HOLDERS[*holder])
                    .await
            )),
            Op::ReleaseLease { chat, holder } => both!(self, what, |s| show(
                s.store.release_lease(CHATS[*chat], HOLDERS[*holder]).await
            )),
            Op::HoldsLease { chat, holder } => both!(self, what, |s| show(
                s.store.holds_lease(CHATS[*chat], HOLDERS[*holder]).await
            )),
            Op::TakeLease {
                chat,
                holder,
                ttl,
                prefix,
                keep,
            } => both!(self, what, |s| show(
                s.store
                    .take_lease(
                        CHATS[*chat],
                        HOLDERS[*holder],
                        ttl.get(),
                        PREFIXES[*prefix],
                        HOLDERS[*keep]
                    )
                    .await
            )),
            Op::OwnPending { consumer, max } => both!(self, what, |s| {
                let r = s.store.own_pending(CONSUMERS[*consumer], *max).await;
                s.signals(r)
            }),
            Op::ClaimConsumer { instance, ttl } => both!(self, what, |s| show(
                s.store
                    .claim_consumer("n1", INSTANCES[*instance], ttl.get())
                    .await
            )),
            Op::RefreshConsumer { instance, ttl } => both!(self, what, |s| show(
                s.store
                    .refresh_consumer("n1", INSTANCES[*instance], ttl.get())
                    .await
            )),
            Op::ReleaseConsumer { instance } => both!(self, what, |s| show(
                s.store.release_consumer("n1", INSTANCES[*instance]).await
            )),
            _ => self.apply_chat_op(op, what).await?,
        }
        Ok(())
    }

    async fn apply_chat_op(&mut self, op: &Op, what: &str) -> Result<(), TestCaseError> {
        match op {
            Op::Inbox { chat } => both!(self, what, |s| show(s.store.inbox(CHATS[*chat]).await)),
            Op::Commit {
                chat,
                consumed,
                entries: ids,
                window,
                ttl,
                jobs,
                dead,
            } => {
                let list = entries(ids);
                let jobs: Vec<String> = jobs.iter().map(|j| format!("j{j}")).collect();
                let dead = dead.map(|d| (format!("d{d}"), format!("{{\"id\":\"d{d}\"}}")));
                let turn = TurnCommit {
                    consumed: *consumed,
                    entries: &list,
                    window: *window,
                    ttl: ttl.get(),
                    mirror_jobs: &jobs,
                    dead_letter: dead.as_ref().map(|(id, json)| (id.as_str(), json.as_str())),
                };
                both!(self, what, |s| show(
                    s.store.commit_turn(CHATS[*chat], &turn).await
                ));
            }
            Op::SendIntent { chat } => both!(self, what, |s| show(s.store.send_intent(CHATS[*chat]).await)),
            Op::RecordIntent { chat, parts, ttl } => {
                let parts: Vec<String> = (0..*parts).map(|p| format!("part {p}")).collect();
                let intent = SendIntent::new(vec!["m1".into()], None, &parts);
                both!(self, what, |s| show(
                    s.store.record_send_intent(CHATS[*chat], &intent, ttl.get()).await
                ));
            }
            Op::MarkIntent { chat, part, gateway } => {
                let gateway = gateway.map(|g| {
                    if g == 0 {
                        String::new()
                    } else {
                        format!("wamid.{g}")
                    }
                });
                both!(self, what, |s| show(
                    s.store
                        .mark_intent_sent(CHATS[*chat], *part, gateway.as_deref())
                        .await
                ));
            }
            Op::History { chat } => both!(self, what, |s| show(s.store.history(CHATS[*chat]).await)),
            Op::Fill {
                chat,
                entries: ids,
                window,
                ttl,
            } => {
                let list = entries(ids);
                both!(self, what, |s| show(
                    s.store
                        .fill_history(CHATS[*chat], &list, *window, ttl.get())
                        .await
                ));
            }
            Op::DropFront { chat, n } => both!(self, what, |s| show(
                s.store.drop_history_front(CHATS[*chat], *n).await
            )),
            Op::ChatState { chat } => both!(self, what, |s| show(s.store.chat_state(CHATS[*chat]).await)),
            Op::SaveChatState { chat, value, ttl } => {
                let json = format!("{{\"v\":{value}}}");
                both!(self, what, |s| show(
                    s.store.save_chat_state(CHATS[*chat], &json, ttl.get()).await
                ));
            }
            Op::Summary { chat } => both!(self, what, |s| show(s.store.summary(CHATS[*chat]).await)),
            Op::SaveSummary { chat, value, ttl } => {
                let text = format!("summary {value}");
                both!(self, what, |s| show(
                    s.store.save_summary(CHATS[*chat], &text, ttl.get()).await
                ));
            }
            Op::HasMarker { marker: m } => both!(self, what, |s| show(s.store.has_marker(marker(*m)).await)),
            Op::SetMarker { marker: m, ttl } => both!(self, what, |s| show(
                s.store.set_marker(marker(*m), ttl.get()).await
            )),
            Op::ClearMarker { marker: m } => {
                both!(self, what, |s| show(s.store.clear_marker(marker(*m)).await))
            }
            _ => self.apply_outbox_op(op, what).await?,
        }
        Ok(())
    }

    async fn apply_outbox_op(&mut self, op: &Op, what: &str) -> Result<(), TestCaseError> {
        match op {
            Op::OutboxPeek { chat, n } => {
                both!(self, what, |s| show(s.store.outbox_peek(CHATS[*chat], *n).await))
            }
            Op::OutboxPop { chat, job } => {
                let job = format!("j{job}");
                both!(self, what, |s| show(s.store.outbox_pop(CHATS[*chat], &job).await));
            }
            Op::OutboxReplace { chat, old, new } => {
                let (old, new) = (format!("j{old}"), format!("j{new}"));
                both!(self, what, |s| show(
                    s.store.outbox_replace_head(CHATS[*chat], &old, &new).await
                ));
            }
            Op::DeadLetters => both!(self, what, |s| sorted(s.store.dead_letters().await)),
            Op::Replay {
                dead,
                chat,
                envelopes,
            } => {
                let envs: Vec<Envelope> = (0..*envelopes)
                    .map(|i| env(CHATS[*chat], &format!("r{i}")))
                    .collect();
                let id = format!("d{dead}");
                both!(self, what, |s| show(
                    s.store.replay_dead_letter(&id, CHATS[*chat], &envs).await
                ));
            }
            Op::OutboxChats => both!(self, what, |s| sorted(s.store.outbox_chats().await)),
            Op::AppendEvent { chat, body, cap, ttl } => {
                let body = format!("event {body}");
                both!(self, what, |s| match s
                    .store
                    .append_chat_event(CHATS[*chat], &body, *cap, ttl.get())
                    .await
                {
                    Ok(id) => format!("{}", s.event_rank(id)),
                    Err(_) => "error".into(),
                });
            }
            Op::EventsAfter { chat, after, max } => both!(self, what, |s| {
                let after = after.and_then(|a| (!s.events.is_empty()).then(|| s.events[a % s.events.len()]));
                let r = s.store.chat_events_after(CHATS[*chat], after, *max).await;
                events(s, r)
            }),
            other => unreachable!("{other:?} is applied elsewhere"),
        }
        Ok(())
    }

    /// `queue_stats`: the counts exactly, the oldest age within the tolerance.
    async fn compare_stats(&mut self) -> Result<(), TestCaseError> {
        let r = self.sides[0].store.queue_stats().await;
        let m = self.sides[1].store.queue_stats().await;
        let (Ok(r), Ok(m)) = (r, m) else {
            return self.same("queue_stats", "answered".into(), "failed".into());
        };
        let counts = |s: &wa_agent::store::QueueStats| {
            format!("{} signals, {} dead", s.pending_signals, s.dead_letters)
        };
        self.same("queue_stats", counts(&r), counts(&m))?;
        let close = match (r.oldest_age_ms, m.oldest_age_ms) {
            (Some(a), Some(b)) => (a - b).abs() <= TOLERANCE,
            (a, b) => a.is_none() && b.is_none(),
        };
        let age = |s: &wa_agent::store::QueueStats| format!("oldest {:?}", s.oldest_age_ms);
        if !close {
            return self.same("queue_stats age", age(&r), age(&m));
        }
        Ok(())
    }

    /// Everything both stores hold, read the same way on each, and every key's TTL.
    async fn compare_holdings(&mut self) -> Result<(), TestCaseError> {
        for chat in CHATS {
            both!(self, "inbox", |s| show(s.store.inbox(chat).await));
            both!(self, "history", |s| show(s.store.history(chat).await));
            both!(self, "send intent", |s| show(s.store.send_intent(chat).await));
            both!(self, "outbox", |s| show(s.store.outbox_peek(chat, 100).await));
            both!(self, "chat state", |s| show(s.store.chat_state(chat).await));
            both!(self, "summary", |s| show(s.store.summary(chat).await));
            both!(self, "events", |s| {
                let r = s.store.chat_events_after(chat, None, 100).await;
                events(s, r)
            });
            for holder in HOLDERS {
                both!(self, "lease holder", |s| show(
                    s.store.holds_lease(chat, holder).await
                ));
            }
        }
        for m in 0..MARKERS {
            both!(self, "marker", |s| show(s.store.has_marker(marker(m)).await));
        }
        both!(self, "outbox chats", |s| sorted(s.store.outbox_chats().await));
        both!(self, "dead letters", |s| sorted(s.store.dead_letters().await));
        self.compare_stats().await?;
        self.compare_ttls().await
    }

    /// Redis's `PTTL` of every key the case may have written (one script, so one round trip)
    /// against the embedded store's expiry.
    async fn compare_ttls(&mut self) -> Result<(), TestCaseError> {
        let keys = self.ttl_keys(&Keys::new(""));
        let redis_keys: Vec<String> = keys.iter().map(|k| format!("{}{k}", self.prefix)).collect();
        let pttls: Vec<i64> = self
            .redis
            .eval(PTTLS_LUA, redis_keys, Vec::<String>::new())
            .await
            .map_err(|e| TestCaseError::fail(format!("PTTL: {e}")))?;
        for (key, pttl) in keys.iter().zip(pttls) {
            let redis = (pttl >= 0).then_some(pttl);
            let memory = self.memory.ttl(key).map(|d| d.as_millis() as i64);
            // A key about to expire may be gone from one store and not yet from the other.
            let close = match (redis, memory) {
                (Some(a), Some(b)) => (a - b).abs() <= TOLERANCE,
                (Some(left), None) | (None, Some(left)) => left <= TOLERANCE,
                (None, None) => true,
            };
            if !close {
                self.same(
                    &format!("TTL of {key}"),
                    format!("{redis:?}"),
                    format!("{memory:?}"),
                )?;
            }
        }
        Ok(())
    }

    fn ttl_keys(&self, k: &Keys) -> Vec<String> {
        let mut keys: Vec<String> = self.seen.iter().map(|s| k.dedupe(s)).collect();
        for chat in CHATS {
            keys.extend([
                k.inbox(chat),
                k.lease(chat),
                k.history(chat),
                k.outbox(chat),
                k.intent(chat),
                k.chat_state(chat),
                k.summary(chat),
                k.web_events(chat),
            ]);
        }
        keys.extend((0..MARKERS).map(|m| k.marker(marker(m))));
        keys.extend(LOCKS.iter().map(|l| k.lock(l)));
        keys.extend([k.consumer("n1"), k.dlq(), k.outbox_chats()]);
        keys
    }
}

fn events(s: &mut Side, r: Result<Vec<wa_agent::store::LoggedEvent>, StoreError>) -> String {
    match r {
        Ok(v) => {
            let v: Vec<(usize, String)> = v.into_iter().map(|e| (s.event_rank(e.id), e.body)).collect();
            format!("{v:?}")
        }
        Err(_) => "error".into(),
    }
}

/// Run `ops` as one case on `server` (a fresh prefix) and a fresh embedded store.
pub(super) async fn run_case(server: &RedisServer, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut case = Case::new(server).await;
    let result = case.run(ops).await;
    case.finish().await;
    result
}

/// The property: [`CASES`] random cases.
pub(super) fn check_random_cases() {
    let server = RedisServer::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let config = RunConfig {
        cases: CASES,
        max_shrink_iters: 300,
        failure_persistence: None,
        ..RunConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(), |ops| rt.block_on(run_case(&server, &ops)));
    if let Err(e) = result {
        panic!("the stores differ: {e}");
    }
}
