//! How a group splits the partitions of its subscribed topics among its
//! members, as Kafka's assignors do.

use std::collections::{BTreeMap, BTreeSet};

use crate::group::topic_partition::TopicPartition;

/// How a group splits partitions among its members (Kafka's
/// `partition.assignment.strategy`).
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Assignor {
    /// Per topic, contiguous ranges of partitions, the first members taking
    /// one extra when they do not divide evenly (Kafka's `RangeAssignor`).
    #[default]
    Range,
    /// All partitions, sorted, dealt out in turn to the members subscribed to
    /// their topic (Kafka's `RoundRobinAssignor`).
    RoundRobin,
}

impl Assignor {
    /// Splits the partitions of the subscribed topics among `members`
    /// (member id → topics), `partitions(topic)` giving each count.
    pub(crate) fn assign(
        self,
        members: &BTreeMap<String, Vec<String>>,
        partitions: impl Fn(&str) -> u32,
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let mut assignment: BTreeMap<String, Vec<TopicPartition>> =
            members.keys().map(|m| (m.clone(), Vec::new())).collect();
        let topics: BTreeSet<&String> = members.values().flatten().collect();
        let subscribers = |topic: &str| -> Vec<&String> {
            members.iter().filter(|(_, t)| t.iter().any(|t| t == topic)).map(|(m, _)| m).collect()
        };
        match self {
            Assignor::Range => {
                for topic in topics {
                    let owners = subscribers(topic);
                    let (count, n) = (partitions(topic), owners.len() as u32);
                    let (each, extra) = (count / n, count % n);
                    let mut next = 0;
                    for (i, owner) in owners.iter().enumerate() {
                        let take = each + u32::from((i as u32) < extra);
                        let share = (next..next + take).map(|p| TopicPartition::new(topic.as_str(), p));
                        assignment.entry((*owner).clone()).or_default().extend(share);
                        next += take;
                    }
                }
            }
            Assignor::RoundRobin => {
                let all: Vec<TopicPartition> = topics
                    .iter()
                    .flat_map(|t| (0..partitions(t)).map(move |p| TopicPartition::new(t.as_str(), p)))
                    .collect();
                let ring: Vec<&String> = members.keys().collect();
                let mut turn = 0;
                for tp in all {
                    while !members[ring[turn % ring.len()]].contains(&tp.topic) {
                        turn += 1;
                    }
                    assignment.entry(ring[turn % ring.len()].clone()).or_default().push(tp);
                    turn += 1;
                }
            }
        }
        assignment
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(entries: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        entries.iter().map(|(m, t)| (m.to_string(), t.iter().map(|t| t.to_string()).collect())).collect()
    }

    fn names(assignment: &[TopicPartition]) -> Vec<String> {
        assignment.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn range_gives_contiguous_shares_extra_to_the_first() {
        let m = members(&[("a", &["t"]), ("b", &["t"]), ("c", &["t"])]);
        let assignment = Assignor::Range.assign(&m, |_| 7);
        assert_eq!(names(&assignment["a"]), ["t/0", "t/1", "t/2"]);
        assert_eq!(names(&assignment["b"]), ["t/3", "t/4"]);
        assert_eq!(names(&assignment["c"]), ["t/5", "t/6"]);
    }

    #[test]
    fn round_robin_deals_in_turn_and_skips_members_not_subscribed() {
        let m = members(&[("a", &["t", "u"]), ("b", &["t"])]);
        let assignment = Assignor::RoundRobin.assign(&m, |topic| if topic == "t" { 3 } else { 2 });
        assert_eq!(names(&assignment["a"]), ["t/0", "t/2", "u/0", "u/1"]);
        assert_eq!(names(&assignment["b"]), ["t/1"]);
    }

    #[test]
    fn more_members_than_partitions_leaves_some_empty() {
        let m = members(&[("a", &["t"]), ("b", &["t"]), ("c", &["t"])]);
        let assignment = Assignor::Range.assign(&m, |_| 2);
        assert_eq!(assignment.values().map(Vec::len).collect::<Vec<_>>(), [1, 1, 0]);
    }
}
