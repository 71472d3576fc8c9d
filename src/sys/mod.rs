//! Operating-system facilities: huge pages, the open-file limit.

pub mod fdlimit;
pub mod hugepages;
