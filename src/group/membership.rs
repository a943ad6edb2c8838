//! Membership of a group, with Kafka's eager rebalance protocol: when a
//! member joins or leaves, or a subscribed topic changes, a rebalance
//! starts; every member, at its next `poll`, revokes its partitions (and may
//! still commit, its generation being current) and rejoins; once all have,
//! the generation is bumped and the partitions are split among them. A
//! member that keeps a rebalance waiting past its `max_poll_interval` is
//! removed. No file I/O here.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::group::assignor::Assignor;
use crate::group::description::MemberDescription;
use crate::group::topic_partition::TopicPartition;
use crate::notify::Waker;
use crate::trace::event;

struct Member {
    subscription: Vec<String>,
    /// Removed from the group if a rebalance waits on it longer than this.
    max_poll_interval: Duration,
    last_seen: Instant,
    rejoined: bool,
    generation: u64,
    assignment: Vec<TopicPartition>,
    waker: Arc<Waker>,
}

/// The members of one group and where its rebalancing stands.
pub(crate) struct Membership {
    group: String,
    generation: u64,
    rebalancing: bool,
    assignor: Assignor,
    members: BTreeMap<String, Member>,
}

/// What a member must do next, as [`Membership::sync`] tells it.
pub(crate) enum Directive {
    /// Nothing changed.
    Steady,
    /// A rebalance started: revoke everything, then call `rejoin`.
    Revoke,
    /// A rebalance completed: take this assignment of this generation.
    Assign(u64, Vec<TopicPartition>),
    /// The member was removed (it kept a rebalance waiting longer than its
    /// `max_poll_interval`): its partitions are lost; join again.
    Removed,
    /// Waiting for other members to rejoin.
    Waiting,
}

static MEMBER_IDS: AtomicU64 = AtomicU64::new(0);

impl Membership {
    /// The membership of group `group`, with no member.
    pub(crate) fn new(group: &str) -> Membership {
        Membership {
            group: group.to_string(),
            generation: 0,
            rebalancing: false,
            assignor: Assignor::Range,
            members: BTreeMap::new(),
        }
    }

    /// How many members the group has.
    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    /// Adds a member subscribed to `topics`; starts a rebalance. Returns its
    /// id. A member asking for another assignor than the members already in
    /// the group is refused (Kafka's `INCONSISTENT_GROUP_PROTOCOL`).
    pub(crate) fn join(&mut self, topics: Vec<String>, options: JoinOptions, waker: Arc<Waker>) -> Result<String> {
        if !self.members.is_empty() && self.assignor != options.assignor {
            let (group, group_assignor) = (self.group.clone(), format!("{:?}", self.assignor));
            let requested = format!("{:?}", options.assignor);
            return Err(Error::InconsistentGroupProtocol { group, group_assignor, requested });
        }
        let id = format!("{}-member-{:08}", self.group, MEMBER_IDS.fetch_add(1, Ordering::Relaxed));
        self.assignor = options.assignor;
        let member = Member {
            subscription: topics,
            max_poll_interval: options.max_poll_interval,
            last_seen: Instant::now(),
            rejoined: true,
            generation: 0,
            assignment: Vec::new(),
            waker,
        };
        self.members.insert(id.clone(), member);
        self.start_rebalance();
        Ok(id)
    }

    /// Removes a member (closed, unsubscribed or dropped); starts a
    /// rebalance among the others.
    pub(crate) fn leave(&mut self, member: &str, partitions: &dyn Fn(&str) -> u32) {
        if self.members.remove(member).is_some() {
            self.start_rebalance();
            self.try_complete(partitions);
        }
    }

    /// Tells `member` what to do next. Members that kept a rebalance
    /// waiting past their `max_poll_interval` are removed here.
    pub(crate) fn sync(&mut self, member: &str, known_generation: u64, partitions: &dyn Fn(&str) -> u32) -> Directive {
        let Some(me) = self.members.get_mut(member) else { return Directive::Removed };
        me.last_seen = Instant::now();
        if self.rebalancing {
            self.remove_overdue();
            self.try_complete(partitions);
        }
        let Some(me) = self.members.get(member) else { return Directive::Removed };
        if self.rebalancing {
            return if me.rejoined { Directive::Waiting } else { Directive::Revoke };
        }
        if me.generation > known_generation {
            return Directive::Assign(me.generation, me.assignment.clone());
        }
        Directive::Steady
    }

    /// Whether a member subscribes to `topic`.
    pub(crate) fn subscribes(&self, topic: &str) -> bool {
        self.members.values().any(|m| m.subscription.iter().any(|t| t == topic))
    }

    /// Starts a rebalance if a member subscribes to `topic` (it was created,
    /// grew or was deleted), so its partitions get an owner or are revoked.
    pub(crate) fn topic_changed(&mut self, topic: &str) {
        if self.subscribes(topic) {
            self.start_rebalance();
        }
    }

    /// `member` revoked its partitions; completes the rebalance if it was
    /// the last one the group waited for.
    pub(crate) fn rejoin(&mut self, member: &str, partitions: &dyn Fn(&str) -> u32) {
        if let Some(me) = self.members.get_mut(member) {
            me.rejoined = true;
            me.assignment.clear();
        }
        self.try_complete(partitions);
    }

    /// Checks that `member` of `generation` may commit `offsets`: it is a
    /// member, of the current generation, holding every partition.
    pub(crate) fn check_commit(&self, member: &str, generation: u64, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        let group = &self.group;
        let Some(me) = self.members.get(member) else {
            return Err(Error::UnknownMember { group: group.clone(), member: member.into() });
        };
        if me.generation != generation || generation != self.generation {
            return Err(Error::StaleGeneration { group: group.clone(), generation, current: self.generation });
        }
        match offsets.iter().find(|(tp, _)| !me.assignment.contains(tp)) {
            Some((tp, _)) => Err(Error::NotAssigned { topic: tp.topic.clone(), partition: tp.partition }),
            None => Ok(()),
        }
    }

    /// Wakes every member's poll.
    pub(crate) fn wake_all(&self) {
        for member in self.members.values() {
            member.waker.wake();
        }
    }

    /// The generation, whether a rebalance is under way, and the members.
    pub(crate) fn describe(&self) -> (u64, bool, Vec<MemberDescription>) {
        let members = self
            .members
            .iter()
            .map(|(id, m)| MemberDescription {
                member_id: id.clone(),
                subscription: m.subscription.clone(),
                assignment: m.assignment.clone(),
            })
            .collect();
        (self.generation, self.rebalancing, members)
    }

    /// Removes the members a rebalance is waiting on that have not polled
    /// within their `max_poll_interval` (Kafka's `max.poll.interval.ms`).
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    fn remove_overdue(&mut self) {
        let group = &self.group;
        self.members.retain(|_id, m| {
            let keep = m.rejoined || m.last_seen.elapsed() <= m.max_poll_interval;
            if !keep {
                event!(
                    WARN,
                    group = group.as_str(),
                    member = _id.as_str(),
                    "member removed: no poll within max_poll_interval"
                );
            }
            keep
        });
    }

    fn start_rebalance(&mut self) {
        self.rebalancing = true;
        for member in self.members.values_mut() {
            if !member.assignment.is_empty() || member.generation > 0 {
                member.rejoined = false;
            }
            member.waker.wake();
        }
    }

    /// Completes a rebalance whose members all rejoined: a new generation,
    /// the partitions split among the members.
    pub(crate) fn try_complete(&mut self, partitions: &dyn Fn(&str) -> u32) {
        if !self.rebalancing || self.members.values().any(|m| !m.rejoined) {
            return;
        }
        self.generation += 1;
        self.rebalancing = false;
        let subscriptions: BTreeMap<String, Vec<String>> =
            self.members.iter().map(|(id, m)| (id.clone(), m.subscription.clone())).collect();
        let mut assignment = self.assignor.assign(&subscriptions, partitions);
        let generation = self.generation;
        for (id, member) in self.members.iter_mut() {
            debug_assert!(member.generation < generation, "a member's generation must only grow");
            member.assignment = assignment.remove(id).unwrap_or_default();
            member.generation = generation;
            member.waker.wake();
        }
        event!(INFO, group = self.group.as_str(), generation, members = self.members.len(), "rebalance completed");
    }
}

/// How a member takes part in its group.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JoinOptions {
    pub(crate) assignor: Assignor,
    pub(crate) max_poll_interval: Duration,
}
