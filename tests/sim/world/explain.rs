//! Whether every outcome of a step is explained: no panic; every error a
//! typed `larder::Error` that an injected fault, a concurrent call (a
//! deletion, a closed producer, a rebalance, a cut) or the operation's own
//! design (a record drawn to be refused, a commit past the end) accounts
//! for; and every injected fault reported by the call that hit it.

use super::*;

impl World<'_> {
    pub(super) fn check_outcomes(
        &self,
        outcomes: &[Outcome],
        settled: &[Settled],
        injected: &[InjectedFault],
    ) -> Result<(), String> {
        let cut_in_step = outcomes.iter().any(|o| o.op.cuts());
        for (n, outcome) in outcomes.iter().enumerate() {
            let op = &outcome.op;
            if let Some(panic) = &outcome.panic {
                return Err(format!("larder panicked in {op:?}: {panic}"));
            }
            if let Some(violation) = outcome.violations.first() {
                return Err(format!("{op:?}: {violation}"));
            }
            // Another cut of the topic, or its cleaner, may have moved
            // the range the operation looked at.
            let raced = outcomes.iter().filter(|o| o.op.cuts() && o.op.topic() == op.topic()).count() > 1
                || op.topic().is_some_and(|t| self.retains(t, outcomes));
            if let Some(violation) = outcome.raced_violations.first().filter(|_| !raced) {
                return Err(format!("{op:?}: {violation}"));
            }
            if let Some(violation) = outcome.cut_violations.first().filter(|_| !cut_in_step) {
                return Err(format!("{op:?}: {violation}"));
            }
            let name = worker_name(n);
            let mine: Vec<&InjectedFault> = injected.iter().filter(|f| f.thread.as_deref() == Some(&name)).collect();
            match (&outcome.error, mine.is_empty()) {
                (None, false) => {
                    return Err(format!("{op:?} returned Ok although an injected fault failed its call: {mine:?}"));
                }
                (Some(error), false)
                    if !is_fault_error(error, &mine) && !self.cleanup_met(op, error, &mine, outcomes) =>
                {
                    return Err(format!(
                        "{op:?} failed with {error} after the injected fault {mine:?}: wrong error kind"
                    ));
                }
                (Some(error), true) => self.explained(op, error, outcomes)?,
                _ => {}
            }
        }
        self.check_deliveries(settled, injected, outcomes)?;
        for fault in injected {
            match fault.thread.as_deref() {
                Some(SYNCER) => self.check_syncer_fault(fault, &self.deleted_in_step)?,
                Some(APPENDER | CLEANER) => {}
                Some(name) if name.starts_with("sim-worker-") => {}
                other => return Err(format!("a fault fired in unexpected thread {other:?}: {fault:?}")),
            }
        }
        Ok(())
    }

    /// Every failed delivery is explained (a record drawn to be refused
    /// was checked when it settled), and a fault the appender met reached
    /// a delivery.
    fn check_deliveries(
        &self,
        settled: &[Settled],
        injected: &[InjectedFault],
        outcomes: &[Outcome],
    ) -> Result<(), String> {
        let appender: Vec<&InjectedFault> = injected.iter().filter(|f| f.thread.as_deref() == Some(APPENDER)).collect();
        for s in settled.iter().filter(|s| s.refusal.is_none()) {
            let Err(error) = &s.result else { continue };
            let by_fault = !appender.is_empty() && is_fault_error(error, &appender);
            let by_poison = matches!(error, Error::Poisoned { .. }) && self.faulted_since_open;
            let by_deletion = self.deleted_in_step.contains(&s.topic)
                && matches!(
                    error,
                    Error::UnknownTopic { .. } | Error::Io { .. } | Error::Poisoned { .. } | Error::Closed { .. }
                );
            let by_full_queue = s.how == SendHow::Try && matches!(error, Error::QueueFull { .. });
            let by_compaction = self.keyless_refused(&s.topic, s.id, error, outcomes);
            if !(by_fault || by_poison || by_deletion || by_full_queue || by_compaction) {
                return Err(format!(
                    "the delivery of record {} to {} failed with {error} without a fault to explain it \
                     (its key {:?}; compaction set in the step {})",
                    s.id,
                    s.topic,
                    content::key(s.id),
                    outcomes.iter().any(|o| o.effects.iter().any(|e| matches!(e, Effect::RetentionSet { .. })))
                ));
            }
        }
        if !appender.is_empty() && !settled.iter().any(|s| s.result.is_err()) {
            return Err(format!(
                "the appender thread swallowed injected faults {appender:?}: every delivery succeeded"
            ));
        }
        Ok(())
    }

    /// Whether `error`, with no fault injected into `op`'s thread, has a
    /// legitimate cause.
    pub(super) fn explained(&self, op: &Op, error: &Error, outcomes: &[Outcome]) -> Result<(), String> {
        let topic_gone = op.topic().is_some_and(|t| self.deleted_in_step.contains(t))
            || (op.is_consumer() && self.deleted_since_open);
        let explained = match op {
            Op::SendDirect { refusal: Some(refusal), producer, .. } => {
                refusal.expects(error, topic_gone)
                    || self.closed_in_step(*producer, error, outcomes)
                    || self.keyless_to_compacted(op, error, outcomes)
            }
            _ => self.explained_error(op, error, topic_gone, outcomes),
        };
        if explained {
            Ok(())
        } else {
            Err(format!("{op:?} failed with {error} ({}) though no fault explains it", variant(error)))
        }
    }

    /// A producer's record without a key, refused by a topic that is (or
    /// in this step became) compacted.
    fn keyless_to_compacted(&self, op: &Op, error: &Error, outcomes: &[Outcome]) -> bool {
        match op {
            Op::SendDirect { topic, id, .. } | Op::Send { topic, id, .. } | Op::Append { topic, id, .. } => {
                self.keyless_refused(topic, *id, error, outcomes)
            }
            Op::AppendBatch { topic, ids, .. } => {
                ids.iter().any(|id| self.keyless_refused(topic, *id, error, outcomes))
            }
            _ => false,
        }
    }

    /// Record `id`, without a key, refused by `topic`, which is (or in this
    /// step became) compacted.
    fn keyless_refused(&self, topic: &str, id: u64, error: &Error, outcomes: &[Outcome]) -> bool {
        let Error::MissingKey { topic: refused } = error else { return false };
        refused == topic && content::key(id).is_none() && self.compacting(topic, outcomes)
    }

    /// Whether `topic` is compacted, or was made so in this step.
    fn compacting(&self, topic: &str, outcomes: &[Outcome]) -> bool {
        self.model.topics.get(topic).is_some_and(|t| t.compacts)
            || outcomes.iter().any(|o| {
                o.effects.iter().any(
                    |e| matches!(e, Effect::RetentionSet { topic: t, retention: Retention::Compact } if t == topic),
                )
            })
    }

    fn explained_error(&self, op: &Op, error: &Error, topic_gone: bool, outcomes: &[Outcome]) -> bool {
        let commits = matches!(op, Op::Commit { .. } | Op::CommitOffsets { .. });
        match error {
            // A deleted topic's files are gone: a holder of its partition may
            // meet ENOENT, which poisons it.
            Error::Poisoned { .. } => self.faulted_since_open || topic_gone,
            Error::OffsetOutOfRange { .. } => {
                topic_gone
                    // Compaction's holes may run to the end of the log (a
                    // truncation cut the survivor they pointed to): no
                    // record at or after the offset, as at the end.
                    || (matches!(op, Op::Read { .. } | Op::Iterate { .. })
                        && op.topic().is_some_and(|t| self.compacting(t, outcomes)))
                    || self.raced_cut(op, outcomes)
                    || matches!(op, Op::CommitOffsets { past_end: true, .. })
                    || match op.topic() {
                        Some(topic) => self.retains(topic, outcomes),
                        None => op.is_consumer() && self.model.topics.keys().any(|t| self.retains(t, outcomes)),
                    }
            }
            // Past the end on purpose, or a truncation lowered the end
            // below the offset meanwhile.
            Error::CommitPastEnd { .. } => {
                commits && (self.raced_cut(op, outcomes) || matches!(op, Op::CommitOffsets { past_end: true, .. }))
            }
            Error::UnknownTopic { .. } | Error::UnknownPartition { .. } | Error::Io { .. } | Error::DiskFull { .. } => {
                topic_gone
            }
            // A deleted topic's partitions are closed under their holders.
            Error::Closed { .. } => match op {
                Op::SendDirect { producer, .. } | Op::Send { producer, .. } | Op::Flush { producer } => {
                    topic_gone || self.closed_in_step(*producer, error, outcomes)
                }
                _ => topic_gone,
            },
            Error::MissingKey { .. } => self.keyless_to_compacted(op, error, outcomes),
            Error::InvalidArgument { name, .. } => {
                topic_gone
                    || matches!(op, Op::AddPartitions { name, .. } if raced_growth(name, outcomes))
                    // Past the end, checked by the operation itself.
                    || matches!(op, Op::DeleteRecords { .. } if *name == "before")
                    // A growth of the topic changed its count meanwhile.
                    || matches!(op, Op::AlterRetention { topic, .. } if *name == "partitions" && raced_growth(topic, outcomes))
                    || (commits && *name == "group_id" && self.member_before(op).is_some_and(|m| m.group.is_none()))
            }
            Error::TopicDeleted { topic } => {
                let gone = self.model.deleted.contains(topic)
                    || self.deleted_in_step.contains(topic)
                    || self.model.topics.get(topic).is_some_and(|t| t.limbo);
                // A poll reports it once; a commit naming one of its
                // partitions is refused with it.
                (matches!(op, Op::Poll { .. } | Op::Consume { .. }) || commits) && gone
            }
            Error::StaleGeneration { .. } | Error::UnknownMember { .. } | Error::NotAssigned { .. } => commits,
            Error::InconsistentGroupProtocol { .. } => self.other_assignor(op, outcomes),
            Error::GroupNotEmpty { .. } => matches!(op, Op::DeleteGroup { group } if self.has_members(group, outcomes)),
            Error::UnknownGroup { .. } => match op {
                Op::DeleteGroup { group } => {
                    // Never stored, or another deletion of it in the step
                    // went first.
                    let others =
                        outcomes.iter().filter(|o| matches!(&o.op, Op::DeleteGroup { group: g } if g == group));
                    self.model.groups.get(group).copied().unwrap_or_default() != Stored::Yes || others.count() > 1
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// Whether `op` failed for another reason (a concurrent deletion took
    /// its directory) and then met the faults only removing what it left:
    /// the first error is the one reported, the cleanup's is secondary.
    fn cleanup_met(&self, op: &Op, error: &Error, faults: &[&InjectedFault], outcomes: &[Outcome]) -> bool {
        faults.iter().all(|f| f.call == FileCall::Remove) && self.explained(op, error, outcomes).is_ok()
    }

    /// Whether `topic` has had a cleanup setting, before or in this step:
    /// its cleaner may cut it at any time.
    fn retains(&self, topic: &str, outcomes: &[Outcome]) -> bool {
        let altered = outcomes.iter().any(|o| matches!(&o.op, Op::AlterRetention { topic: t, .. } if t == topic));
        altered || self.model.topics.get(topic).is_some_and(|t| t.retains)
    }

    /// Whether producer `slot` was closed in this step, `error` saying so.
    fn closed_in_step(&self, slot: usize, error: &Error, outcomes: &[Outcome]) -> bool {
        let closing = outcomes.iter().any(|o| matches!(&o.op, Op::CloseProducer { producer } if *producer == slot));
        closing && matches!(error, Error::Closed { .. })
    }

    /// Whether another truncation or deletion of `op`'s topic in this step
    /// may have moved the range `op` read just before its call.
    /// (A consumer operation's topics are those of its assignment: a cut
    /// of any topic counts.)
    fn raced_cut(&self, op: &Op, outcomes: &[Outcome]) -> bool {
        let same_topic = |other: &Op| op.is_consumer() || other.topic() == op.topic();
        outcomes.iter().any(|o| o.op.cuts() && same_topic(&o.op) && !std::ptr::eq(&o.op, op))
    }

    /// The member `op` used, as it was when the step began.
    fn member_before(&self, op: &Op) -> Option<&MemberInfo> {
        self.members_before.get(op.member()?)?.as_ref()
    }

    /// The members of `group` in the step: subscribed before it, or
    /// joining in it.
    fn group_members<'o>(&'o self, group: &'o str, outcomes: &'o [Outcome]) -> impl Iterator<Item = Assignor> + 'o {
        let before =
            self.members_before.iter().flatten().filter(move |m| m.subscribed && m.group.as_deref() == Some(group));
        let joining = outcomes.iter().filter_map(move |o| match &o.op {
            Op::Join { group: Some(g), subscribe: Some(_), assignor, .. } if g == group => Some(*assignor),
            _ => None,
        });
        before.map(|m| m.assignor).chain(joining)
    }

    fn has_members(&self, group: &str, outcomes: &[Outcome]) -> bool {
        self.group_members(group, outcomes).next().is_some()
    }

    /// Whether a `Join` met a member of its group with another assignor.
    fn other_assignor(&self, op: &Op, outcomes: &[Outcome]) -> bool {
        let Op::Join { group: Some(group), subscribe: Some(_), assignor, .. } = op else { return false };
        self.group_members(group, outcomes).any(|other| other != *assignor)
    }

    /// A fault in the interval syncer must poison the partition it synced.
    pub(super) fn check_syncer_fault(&self, fault: &InjectedFault, deleted: &BTreeSet<String>) -> Result<(), String> {
        let Some((topic, partition)) = topic_partition_of(&fault.path) else {
            return Err(format!("the interval syncer failed on {fault:?}, which is not a partition's file"));
        };
        let known = self.model.topics.get(&topic).is_some_and(|t| !t.limbo);
        if deleted.contains(&topic) || !known {
            return Ok(());
        }
        let log = self.log.as_ref().expect("open");
        let poisoned = log.partition(&topic, partition).is_ok_and(|p| p.is_poisoned());
        if !poisoned {
            return Err(format!("the interval syncer swallowed {fault:?}: {topic}/{partition} is not poisoned"));
        }
        Ok(())
    }
}

/// Whether more than one `add_partitions` of `name` ran in the step (the
/// slower one finds the count grown: the count only grows), or one raced
/// an `alter_topic` (which names the count it saw).
fn raced_growth(name: &str, outcomes: &[Outcome]) -> bool {
    let growths = outcomes.iter().filter(|o| matches!(&o.op, Op::AddPartitions { name: n, .. } if n == name)).count();
    let alterations =
        outcomes.iter().filter(|o| matches!(&o.op, Op::AlterRetention { topic, .. } if topic == name)).count();
    growths > 1 || (growths == 1 && alterations > 0)
}

/// Whether `error` is what one of the injected `faults` returns.
pub(super) fn is_fault_error(error: &Error, faults: &[&InjectedFault]) -> bool {
    match error {
        Error::Io { source, .. } => faults.iter().any(|f| source.raw_os_error() == Some(f.error.raw_os_error())),
        Error::DiskFull { .. } => faults.iter().any(|f| f.error == FaultError::NoSpace),
        _ => false,
    }
}

/// The topic and partition a file belongs to: `<log>/topics/<topic>/<n>/<file>`.
pub(super) fn topic_partition_of(path: &Path) -> Option<(String, u32)> {
    let partition_dir = path.parent()?;
    let partition = partition_dir.file_name()?.to_str()?.parse().ok()?;
    let topic = partition_dir.parent()?.file_name()?.to_str()?.to_string();
    Some((topic, partition))
}
