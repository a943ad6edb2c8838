//! A read-only partition that was idle while its owner truncated into an
//! earlier segment and then appended past the same roll point again (so
//! `partition.state` reads as before, and the next segment has its old
//! name) reads the owner's new records at the reused offsets, never the
//! truncated ones from the file it had followed.

use larder::partition::{Partition, PartitionOptions};
use larder::record::NewRecord;

fn options() -> PartitionOptions {
    PartitionOptions::default().segment_bytes(4096)
}

fn append(partition: &Partition, value: &[u8], count: u64) {
    for _ in 0..count {
        partition.append(&NewRecord::new(value)).unwrap();
    }
}

#[test]
fn an_idle_reader_never_serves_records_truncated_before_the_same_roll_happened_again() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Partition::open(dir.path(), options()).unwrap();
    let old = [b'o'; 100];
    while owner.segment_count() < 3 {
        append(&owner, &old, 1);
    }
    let bases = owner.segment_base_offsets();
    let (middle, last) = (bases[1], bases[2]);
    let reader = Partition::open_read_only(dir.path(), options()).unwrap();
    assert_eq!(reader.refresh().unwrap(), owner.end_offset());
    assert_eq!(reader.segment_base_offsets(), bases);

    // The reader sleeps: the owner cuts into the middle segment, then
    // appends records of the same size, so it rolls at the same offset.
    let cut = middle + (last - middle) / 2;
    owner.truncate_to(cut).unwrap();
    let new = [b'n'; 100];
    append(&owner, &new, last - cut + 1);
    assert_eq!(owner.segment_base_offsets(), bases, "the same roll point again");
    std::thread::sleep(std::time::Duration::from_millis(20));

    assert_eq!(reader.refresh().unwrap(), owner.end_offset());
    for offset in cut..owner.end_offset() {
        let record = reader.read(offset).unwrap();
        assert_eq!(record.value(), Some(&new[..]), "offset {offset}: a truncated record served");
    }
}
