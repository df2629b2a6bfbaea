//! The closed vocabularies that content, campaigns and delivery share: what a message is for,
//! how it travels, and what kind of offer it carries. Parsed once at the edge; inside, the
//! compiler checks every use. The wire and database forms are the snake_case names.

use serde::{Deserialize, Serialize};

macro_rules! kind_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire and database name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses the wire name; `None` for anything else.
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// "a, b, c": the accepted names, for error messages.
            pub fn names() -> String {
                Self::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

kind_enum! {
    /// What a message is for; templates are selected by it.
    Purpose {
        Outreach => "outreach",
        Nurture => "nurture",
        Winback => "winback",
        NegotiationBrief => "negotiation_brief",
        ManagerTask => "manager_task",
        EventNotification => "event_notification",
    }
}

kind_enum! {
    /// How a message travels, which decides the template parts it needs.
    Channel {
        Email => "email",
        Webhook => "webhook",
        Task => "task",
    }
}

impl Channel {
    /// The template parts this channel needs.
    pub fn parts(self) -> &'static [&'static str] {
        match self {
            Channel::Email => &["subject", "html", "text"],
            Channel::Webhook => &["body.json"],
            Channel::Task => &["task"],
        }
    }
}

kind_enum! {
    /// The kind of incentive an offer is.
    OfferKind {
        Discount => "discount",
        Gift => "gift",
        Terms => "terms",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for p in Purpose::ALL {
            assert_eq!(Purpose::parse(p.as_str()), Some(*p));
            assert_eq!(
                serde_json::to_value(p).ok(),
                Some(serde_json::json!(p.as_str()))
            );
        }
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(*c));
            assert!(!c.parts().is_empty());
        }
        assert_eq!(OfferKind::parse("gift"), Some(OfferKind::Gift));
        assert_eq!(Purpose::parse("spam"), None);
        assert_eq!(Channel::parse("Email"), None, "names are exact");
        assert_eq!(OfferKind::names(), "discount, gift, terms");
    }
}
