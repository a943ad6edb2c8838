//! Records: what is appended ([`NewRecord`]), what is read back (the
//! [`Record`] handle, and [`RecordView`] borrowed from a batch), and the
//! frame they are stored in (the `codec`, public only with the `fuzzing`
//! feature).

#[cfg(feature = "fuzzing")]
pub mod codec;
#[cfg(not(feature = "fuzzing"))]
pub(crate) mod codec;
mod handle;
mod new_record;

pub use codec::{Headers, RecordView};
pub use handle::Record;
pub(crate) use new_record::now_ms;
pub use new_record::NewRecord;
