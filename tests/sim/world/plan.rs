//! Planning a step: which operations to draw from the seed, on which
//! topics, partitions, producers and members, and which of them run alone
//! while a known bug makes racing them unsafe.

use super::*;

impl World<'_> {
    pub(super) fn plan_ops(&mut self) -> Vec<Op> {
        let count = 1 + self.rng.below(4) as usize;
        let mut ops: Vec<Op> = Vec::new();
        for _ in 0..count * 3 {
            if ops.len() == count {
                break;
            }
            let Some(op) = self.plan_op(&ops) else { continue };
            if exclusive(&op) {
                if ops.is_empty() {
                    return vec![op];
                }
                continue;
            }
            ops.push(op);
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
        // A failed roll must not race another write to its topic, nor the
        // appender batch several sends into one larger than a segment, while
        // those bugs stand: with a fault armed, one write per topic per step.
        let one_writer = (crate::BUG_FAILED_ROLL_LEAVES_ORPHAN_SEGMENT
            || crate::BUG_REPLACING_AN_EMPTY_SEGMENT_TRUNCATES_ITS_MAPS)
            && self.disk.armed_faults() > 0;
        let written: BTreeSet<&str> = if one_writer {
            planned.iter().filter(|op| op.writes()).filter_map(Op::topic).collect()
        } else {
            BTreeSet::new()
        };
        let r = self.rng.below(100);
        if topics.is_empty() {
            return (self.model.topics.len() < MAX_TOPICS).then(|| self.plan_create_topic());
        }
        let chosen = self.rng.pick(&topics).clone();
        let (topic, partitions, durability) = (chosen.name.clone(), chosen.partitions, chosen.durability);
        let writes = matches!(r, 0..=25 | 32..=47 | 53..=59);
        if writes && (!chosen.writable || written.contains(topic.as_str())) {
            return None;
        }
        let partition = self.rng.below(u64::from(partitions)) as u32;
        let sync_topic = durability == Durability::Sync;
        let needs_producer = r < 30;
        if needs_producer && live_producers.is_empty() {
            let producer = self.rng.below(PRODUCERS as u64) as usize;
            return Some(Op::NewProducer { producer, queue_capacity: 1 + self.rng.below(64) as usize });
        }
        let producer = if live_producers.is_empty() { 0 } else { *self.rng.pick(&live_producers) };
        let route = if self.rng.one_in(2) { Route::Partition(partition) } else { Route::Partitioner };
        Some(match r {
            0..=13 => Op::SendDirect { producer, topic, route, id: self.model.new_id(false), sync_topic },
            14..=25 => {
                let callback = self.rng.one_in(3);
                Op::Send { producer, topic, route, id: self.model.new_id(false), sync_topic, callback }
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
                let ids: Vec<u64> = (0..count).map(|_| self.model.new_id(large)).collect();
                // A batch larger than a segment replaces an empty active
                // segment; with a fault armed that may crash the process.
                let frames: usize = ids.iter().map(|&id| content::frame_bytes_max(id)).sum();
                let replaces = frames + 64 > chosen.segment_bytes as usize;
                if replaces && crate::BUG_REPLACING_AN_EMPTY_SEGMENT_TRUNCATES_ITS_MAPS && self.disk.armed_faults() > 0
                {
                    return None;
                }
                Op::AppendBatch { topic, partition, ids }
            }
            48..=52 => Op::Sync { topic, partition },
            53..=56 => {
                let interval = matches!(durability, Durability::Interval(_));
                if deleting.contains(topic.as_str()) || (interval && crate::KNOWN_BUG_SYNC_TRUNCATE_RACE) {
                    return None;
                }
                let pick = self.rng.next();
                if r <= 54 {
                    Op::Truncate { topic, partition, pick }
                } else {
                    Op::DeleteBefore { topic, partition, pick }
                }
            }
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
                if partitions >= SIM_MAX_PARTITIONS || deleting.contains(topic.as_str()) {
                    return None;
                }
                let to = partitions + 1 + self.rng.below(2) as u32;
                Op::AddPartitions { name: topic, to: to.min(SIM_MAX_PARTITIONS) }
            }
            71..=74 => {
                let member = *self.rng.pick(&free.iter().copied().chain([MEMBERS]).collect::<Vec<_>>());
                if member == MEMBERS {
                    return None;
                }
                let groups: Vec<&str> =
                    GROUPS.iter().copied().filter(|g| !self.model.unsure_groups.contains(*g)).collect();
                if groups.is_empty() {
                    return None;
                }
                let group = self.rng.pick(&groups).to_string();
                let assignor = *self.rng.pick(&[Assignor::Range, Assignor::RoundRobin]);
                let picked: Vec<Usable> = (0..1 + self.rng.below(2)).map(|_| self.rng.pick(&topics).clone()).collect();
                if self.rng.one_in(2) {
                    let mut names: Vec<String> = picked.into_iter().map(|t| t.name).collect();
                    names.dedup();
                    Op::Join { member, group, subscribe: Some(names), assign: Vec::new(), assignor }
                } else {
                    let mut assign: Vec<TopicPartition> = picked
                        .into_iter()
                        .map(|t| TopicPartition::new(t.name, self.rng.below(u64::from(t.partitions)) as u32))
                        .collect();
                    assign.dedup();
                    Op::Join { member, group, subscribe: None, assign, assignor }
                }
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
                    92..=95 => Op::CommitOffsets { member, pick: self.rng.next() },
                    _ => Op::Seek { member, pick: self.rng.next() },
                }
            }
        })
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

/// Operations that run alone in their step while a known bug makes them
/// unsafe to race.
pub(super) fn exclusive(op: &Op) -> bool {
    match op {
        Op::Truncate { .. } | Op::DeleteBefore { .. } => crate::EXCLUSIVE_TRUNCATION,
        Op::AddPartitions { .. } => crate::KNOWN_BUG_ADD_PARTITIONS_KEPT_IN_MEMORY,
        _ => false,
    }
}
