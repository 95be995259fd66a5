//! The two caches of the core: `DirCache` (directory listings with a TTL) and `BlockCache` (file
//! contents in fixed-size blocks keyed by file version). Both are bounded LRU maps behind a mutex,
//! count their hits and misses, and hold no lock while anything else happens.

pub mod block;
pub mod dir;

pub use block::{Block, BlockCache, FileVersion, BLOCK_SIZE, SEGMENT_BLOCKS};
pub use dir::{DirCache, Listing};
