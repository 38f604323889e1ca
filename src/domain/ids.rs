//! Row identities: a subscriber's and a delivery's id, typed so that one is
//! never passed where the other belongs. The store turns them into and out
//! of its integer columns; nothing else looks inside.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(i64);

        impl $name {
            /// The id stored as `value`.
            pub const fn new(value: i64) -> Self {
                $name(value)
            }

            /// The stored integer.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A subscriber's id. Ids grow with each new subscriber, so runs page
    /// through subscribers by id; `SubscriberId::default()` (0) comes before
    /// every real one.
    SubscriberId
);

id_type!(
    /// One (subscriber, date) digest's delivery record.
    DeliveryId
);
