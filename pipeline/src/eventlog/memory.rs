//! The in-process event log: partitioned topics, consumer groups that share partitions, and
//! redelivery of what a departed member received but did not commit.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{Delivered, EventLog, LogConsumer, LogError, LogResult, Position, Record};

#[derive(Default)]
struct Group {
    committed: HashMap<(String, i32), i64>,
    members: Vec<u64>,
    generation: u64,
}

#[derive(Default)]
struct Inner {
    topics: BTreeMap<String, Vec<Vec<Record>>>,
    groups: HashMap<String, Group>,
    next_member: u64,
    closed: bool,
}

/// An in-process [`EventLog`]. Cheap to clone (shared state). Not durable: it is the
/// reference semantics for tests and for a single process whose store already keeps the
/// inbox.
#[derive(Clone)]
pub struct MemoryLog {
    inner: Arc<Mutex<Inner>>,
    notify: Arc<Notify>,
    partitions: i32,
}

impl std::fmt::Debug for MemoryLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLog")
            .field("partitions", &self.partitions)
            .finish_non_exhaustive()
    }
}

impl MemoryLog {
    /// A log whose topics have `partitions` partitions (at least 1).
    pub fn new(partitions: i32) -> Self {
        MemoryLog {
            inner: Arc::default(),
            notify: Arc::new(Notify::new()),
            partitions: partitions.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records in `topic`, all partitions, in partition then offset order (for tests).
    pub fn records(&self, topic: &str) -> Vec<Record> {
        self.lock()
            .topics
            .get(topic)
            .map(|ps| ps.iter().flatten().cloned().collect())
            .unwrap_or_default()
    }

    /// Closes the log: consumers waiting in `next` get [`LogError::Closed`].
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_waiters();
    }

    fn partition_of(&self, key: &[u8]) -> i32 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        (h.finish() % self.partitions as u64) as i32
    }

    fn ensure_topic<'a>(&self, inner: &'a mut Inner, topic: &str) -> &'a mut Vec<Vec<Record>> {
        inner
            .topics
            .entry(topic.to_owned())
            .or_insert_with(|| vec![Vec::new(); self.partitions as usize])
    }
}

#[async_trait]
impl EventLog for MemoryLog {
    async fn append(&self, topic: &str, record: Record) -> LogResult<Position> {
        let partition = self.partition_of(&record.key);
        let pos = {
            let mut inner = self.lock();
            if inner.closed {
                return Err(LogError::Closed);
            }
            let parts = self.ensure_topic(&mut inner, topic);
            let p = &mut parts[partition as usize];
            p.push(record);
            Position {
                partition,
                offset: p.len() as i64 - 1,
            }
        };
        self.notify.notify_waiters();
        Ok(pos)
    }

    async fn consumer(&self, group: &str, topics: &[&str]) -> LogResult<Box<dyn LogConsumer>> {
        let member = {
            let mut inner = self.lock();
            for t in topics {
                self.ensure_topic(&mut inner, t);
            }
            inner.next_member += 1;
            let id = inner.next_member;
            let g = inner.groups.entry(group.to_owned()).or_default();
            g.members.push(id);
            g.generation += 1;
            id
        };
        self.notify.notify_waiters();
        Ok(Box::new(MemoryConsumer {
            log: self.clone(),
            group: group.to_owned(),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            member,
            generation: 0,
            positions: Vec::new(),
            turn: 0,
        }))
    }
}

struct MemoryConsumer {
    log: MemoryLog,
    group: String,
    topics: Vec<String>,
    member: u64,
    generation: u64,
    /// Assigned partitions and the next offset to hand out.
    positions: Vec<((String, i32), i64)>,
    turn: usize,
}

impl MemoryConsumer {
    /// Takes the next record of the assigned partitions, reassigning after a rebalance.
    fn poll(&mut self) -> LogResult<Option<Delivered>> {
        let log = self.log.clone();
        let mut inner = log.lock();
        if inner.closed {
            return Err(LogError::Closed);
        }
        let partitions = log.partitions;
        let g = inner.groups.entry(self.group.clone()).or_default();
        if g.generation != self.generation {
            self.generation = g.generation;
            let me = g
                .members
                .iter()
                .position(|m| *m == self.member)
                .unwrap_or(0);
            let n = g.members.len().max(1);
            let mut all: Vec<(String, i32)> = self
                .topics
                .iter()
                .flat_map(|t| (0..partitions).map(move |p| (t.clone(), p)))
                .collect();
            all.sort();
            self.positions = all
                .into_iter()
                .enumerate()
                .filter(|(i, _)| i % n == me)
                .map(|(_, tp)| {
                    let at = g.committed.get(&tp).copied().unwrap_or(0);
                    (tp, at)
                })
                .collect();
        }
        let count = self.positions.len();
        for step in 0..count {
            let i = (self.turn + step) % count;
            let ((topic, p), at) = &self.positions[i];
            let rec = inner
                .topics
                .get(topic)
                .and_then(|ps| ps.get(*p as usize))
                .and_then(|part| part.get(*at as usize))
                .cloned();
            if let Some(record) = rec {
                let d = Delivered {
                    topic: topic.clone(),
                    position: Position {
                        partition: *p,
                        offset: *at,
                    },
                    record,
                };
                self.positions[i].1 += 1;
                self.turn = i + 1;
                return Ok(Some(d));
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl LogConsumer for MemoryConsumer {
    async fn next(&mut self) -> LogResult<Delivered> {
        loop {
            let notify = self.log.notify.clone();
            let wait = notify.notified();
            if let Some(d) = self.poll()? {
                return Ok(d);
            }
            // A notification between the poll and here is not lost for long: the wait is
            // bounded.
            let _ = tokio::time::timeout(Duration::from_millis(50), wait).await;
        }
    }

    async fn commit(&mut self, d: &Delivered) -> LogResult<()> {
        let mut inner = self.log.lock();
        let g = inner.groups.entry(self.group.clone()).or_default();
        let slot = g
            .committed
            .entry((d.topic.clone(), d.position.partition))
            .or_insert(0);
        *slot = (*slot).max(d.position.offset + 1);
        Ok(())
    }
}

impl Drop for MemoryConsumer {
    fn drop(&mut self) {
        {
            let mut inner = self.log.lock();
            if let Some(g) = inner.groups.get_mut(&self.group) {
                g.members.retain(|m| *m != self.member);
                g.generation += 1;
            }
        }
        self.log.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::super::Headers;
    use super::*;

    fn rec(key: &str, n: u32) -> Record {
        Record {
            key: key.as_bytes().to_vec(),
            payload: n.to_string().into_bytes(),
            headers: Headers::new(format!("c{n}"), "test"),
        }
    }

    #[tokio::test]
    async fn one_key_stays_in_order_and_uncommitted_records_are_redelivered() {
        let log = MemoryLog::new(4);
        for n in 0..6 {
            log.append("t", rec("patient-a", n)).await.unwrap();
        }
        let mut c1 = log.consumer("g", &["t"]).await.unwrap();
        let mut got = Vec::new();
        for _ in 0..3 {
            let d = c1.next().await.unwrap();
            got.push(String::from_utf8(d.record.payload.clone()).unwrap());
            if got.len() <= 2 {
                c1.commit(&d).await.unwrap();
            }
        }
        assert_eq!(got, ["0", "1", "2"]);
        // The member goes away with "2" received but not committed.
        drop(c1);
        let mut c2 = log.consumer("g", &["t"]).await.unwrap();
        let d = c2.next().await.unwrap();
        assert_eq!(d.record.payload, b"2", "redelivered to the group");
    }

    #[tokio::test]
    async fn two_members_share_the_partitions_and_see_every_record_once() {
        let log = MemoryLog::new(4);
        for n in 0..40 {
            log.append("t", rec(&format!("p{}", n % 10), n))
                .await
                .unwrap();
        }
        let mut a = log.consumer("g", &["t"]).await.unwrap();
        let mut b = log.consumer("g", &["t"]).await.unwrap();
        let mut seen = Vec::new();
        for c in [&mut a, &mut b] {
            while let Ok(Ok(d)) = tokio::time::timeout(Duration::from_millis(120), c.next()).await {
                c.commit(&d).await.unwrap();
                seen.push(String::from_utf8(d.record.payload).unwrap());
            }
        }
        seen.sort_by_key(|s| s.parse::<u32>().unwrap());
        let want: Vec<String> = (0..40).map(|n| n.to_string()).collect();
        assert_eq!(seen, want);
    }
}
