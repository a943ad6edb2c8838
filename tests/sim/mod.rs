//! The parts of the seeded simulation in `tests/simulation.rs`: a small
//! random generator and the record contents it derives from ids
//! (`content`), the model of what larder acknowledged (`model`), the
//! operations and their outcomes (`ops`), the world that runs them on
//! worker threads and checks the model after every step (`world`), and the
//! loop over seeds with its totals (`run`).

pub mod content;
pub mod model;
pub mod ops;
pub mod run;
pub mod world;
