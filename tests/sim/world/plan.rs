//! Planning a step: which operations to draw from the seed, on which
//! topics, partitions, producers and members. Any operations may run
//! together: truncations and deletions race appends, reads, iterators and
//! each other; admin calls race everything.

use super::*;

/// How often, one time in this many, a send is drawn to be refused.
const REFUSED_ONE_IN: u64 = 10;
/// How often, one time in this many, a member joins with an assignor other
/// than its group's usual one (`InconsistentGroupProtocol` while the
/// group has members with the usual one).
const OTHER_ASSIGNOR_ONE_IN: u64 = 4;

impl World<'_> {
    pub(super) fn plan_ops(&mut self) -> Vec<Op> {
        let count = 1 + self.rng.below(4) as usize;
        let mut ops: Vec<Op> = Vec::new();
        for _ in 0..count * 3 {
            if ops.len() == count {
                break;
            }
            if let Some(op) = self.plan_op(&ops) {
                ops.push(op);
            }
        }
        ops
    }

    pub(super) fn plan_op(&mut self, planned: &[Op]) -> Option<Op> {
        let topics = self.model.usable_topics();
        let live_producers: Vec<usize> = (0..PRODUCERS).filter(|&n| lock(&self.producers[n]).is_some()).collect();
        let busy: BTreeSet<usize> = planned.iter().filter_map(Op::member).collect();
        let (occupied, free): (Vec<usize>, Vec<usize>) =
            (0..MEMBERS).filter(|n| !busy.contains(n)).partition(|&n| lock(&self.members[n]).is_some());
        let deleting: BTreeSet<&str> =
            planned.iter().filter(|op| matches!(op, Op::DeleteTopic { .. })).filter_map(Op::topic).collect();
        let r = self.rng.below(110);
        if topics.is_empty() {
            return (self.model.topics.len() < MAX_TOPICS).then(|| self.plan_create_topic());
        }
        let chosen = self.rng.pick(&topics).clone();
        let (topic, partitions, durability) = (chosen.name.clone(), chosen.partitions, chosen.durability);
        let partition = self.rng.below(u64::from(partitions)) as u32;
        let sync_topic = durability == Durability::Sync;
        if r < 30 && live_producers.is_empty() {
            let producer = self.rng.below(PRODUCERS as u64) as usize;
            return Some(Op::NewProducer { producer, queue_capacity: 1 + self.rng.below(64) as usize });
        }
        let producer = if live_producers.is_empty() { 0 } else { *self.rng.pick(&live_producers) };
        let route = if self.rng.one_in(2) { Route::Partition(partition) } else { Route::Partitioner };
        Some(match r {
            0..=13 => {
                let refusal = self.plan_refusal();
                Op::SendDirect { producer, topic, route, id: self.model.new_id(false), sync_topic, refusal }
            }
            14..=25 => {
                let how = *self.rng.pick(&[SendHow::Plain, SendHow::Callback, SendHow::Try]);
                let (id, refusal) = (self.model.new_id(false), self.plan_refusal());
                Op::Send { producer, topic, route, id, sync_topic, how, refusal }
            }
            26..=28 => Op::Flush { producer },
            29 => Op::CloseProducer { producer },
            30..=31 => {
                let empty: Vec<usize> = (0..PRODUCERS).filter(|n| !live_producers.contains(n)).collect();
                if empty.is_empty() {
                    return None;
                }
                let producer = *self.rng.pick(&empty);
                Op::NewProducer { producer, queue_capacity: 1 + self.rng.below(64) as usize }
            }
            32..=41 => Op::Append { topic, partition, id: self.model.new_id(false) },
            42..=47 => {
                let large = self.rng.one_in(12);
                let count = if large { 3 } else { 1 + self.rng.below(5) };
                Op::AppendBatch { topic, partition, ids: (0..count).map(|_| self.model.new_id(large)).collect() }
            }
            48..=52 => Op::Sync { topic, partition },
            53..=54 => Op::Truncate { topic, partition, pick: self.rng.next() },
            55..=56 => Op::DeleteBefore { topic, partition, pick: self.rng.next() },
            57..=59 => Op::Roll { topic, partition },
            60..=63 => Op::Read { topic, partition, pick: self.rng.next() },
            64..=66 => Op::Iterate { topic, partition, pick: self.rng.next(), max: 1 + self.rng.below(40) as usize },
            67..=68 => {
                if self.model.topics.len() >= MAX_TOPICS {
                    return None;
                }
                self.plan_create_topic()
            }
            69 => {
                if topics.len() < 2 || deleting.contains(topic.as_str()) {
                    return None;
                }
                Op::DeleteTopic { name: topic }
            }
            70 => {
                if partitions >= SIM_MAX_PARTITIONS {
                    return None;
                }
                let to = partitions + 1 + self.rng.below(2) as u32;
                Op::AddPartitions { name: topic, to: to.min(SIM_MAX_PARTITIONS) }
            }
            71..=74 => self.plan_join(&free, &topics)?,
            104 => Op::DeleteGroup { group: self.rng.pick(&GROUPS).to_string() },
            105 => Op::PanicInPoll { topic, partition },
            106..=107 => Op::DeleteRecords { topic, partition, pick: self.rng.next() },
            108..=109 => {
                let retention = match self.rng.below(4) {
                    0 => Retention::Bytes(self.rng.between(300, 3000)),
                    1 => Retention::Ms(self.rng.between(1, 200)),
                    2 => Retention::UntilConsumed,
                    _ => Retention::Compact,
                };
                Op::AlterRetention { topic, retention }
            }
            _ => {
                if occupied.is_empty() {
                    return None;
                }
                let member = *self.rng.pick(&occupied);
                match r {
                    75 => Op::Leave { member },
                    76..=84 => Op::Poll { member, timeout_ms: self.rng.below(4) },
                    85..=91 => Op::Commit { member },
                    92..=95 => Op::CommitOffsets { member, pick: self.rng.next(), past_end: self.rng.one_in(6) },
                    96..=99 => Op::Seek { member, pick: self.rng.next() },
                    _ => Op::Consume { member, max: 1 + self.rng.below(24) as usize },
                }
            }
        })
    }

    /// Most sends are well formed; one in `REFUSED_ONE_IN` is refused early.
    fn plan_refusal(&mut self) -> Option<Refusal> {
        if !self.rng.one_in(REFUSED_ONE_IN) {
            return None;
        }
        let refusals =
            [Refusal::UnknownTopic, Refusal::UnknownPartition, Refusal::TooLarge, Refusal::NegativeTimestamp];
        Some(*self.rng.pick(&refusals))
    }

    /// A consumer for a free slot: in a group (one in five without),
    /// subscribed to one or two topics or assigned a partition of each.
    fn plan_join(&mut self, free: &[usize], topics: &[Usable]) -> Option<Op> {
        let member = *self.rng.pick(&free.iter().copied().chain([MEMBERS]).collect::<Vec<_>>());
        if member == MEMBERS {
            return None;
        }
        let n = self.rng.below(GROUPS.len() as u64 + 1) as usize;
        let group = GROUPS.get(n).map(|g| g.to_string());
        let usual = if n % 2 == 0 { Assignor::Range } else { Assignor::RoundRobin };
        let assignor = if self.rng.one_in(OTHER_ASSIGNOR_ONE_IN) {
            *self.rng.pick(&[Assignor::Range, Assignor::RoundRobin])
        } else {
            usual
        };
        let picked: Vec<Usable> = (0..1 + self.rng.below(2)).map(|_| self.rng.pick(topics).clone()).collect();
        if self.rng.one_in(2) {
            let mut names: Vec<String> = picked.into_iter().map(|t| t.name).collect();
            names.dedup();
            return Some(Op::Join { member, group, subscribe: Some(names), assign: Vec::new(), assignor });
        }
        let mut assign: Vec<TopicPartition> = picked
            .into_iter()
            .map(|t| TopicPartition::new(t.name, self.rng.below(u64::from(t.partitions)) as u32))
            .collect();
        assign.dedup();
        Some(Op::Join { member, group, subscribe: None, assign, assignor })
    }

    pub(super) fn plan_create_topic(&mut self) -> Op {
        let durability = match self.rng.below(3) {
            0 => Durability::Buffered,
            1 => Durability::Sync,
            _ => Durability::Interval(Duration::from_millis(self.rng.between(5, 40))),
        };
        Op::CreateTopic {
            name: self.model.new_topic_name(),
            partitions: 1 + self.rng.below(3) as u32,
            segment_bytes: *self.rng.pick(&SEGMENT_BYTES),
            durability,
        }
    }
}
