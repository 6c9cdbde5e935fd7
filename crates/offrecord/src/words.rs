//! Our own list of 256 short English words, one per byte value, to read the secure session id
//! (SSID) aloud or compare it at a glance, as Telegram shows its key picture (design 4.3).
//!
//! The 8 SSID bytes become 8 words; both ends of a chat show the same words. The words are
//! distinct, at most 7 letters, and in no particular order (animals, food, nature, things).

/// The word for each byte value: `WORDS[b as usize]`.
pub const WORDS: [&str; 256] = [
    "ant", "bear", "bee", "bison", "camel", "cat", "cobra", "crab", "crow", "deer", "dog", "dove",
    "eagle", "eel", "elk", "falcon", "finch", "fox", "frog", "gecko", "goat", "goose", "hare",
    "hawk", "heron", "horse", "ibis", "koala", "lark", "lemur", "lion", "llama", "lynx", "mole",
    "moose", "moth", "mouse", "mule", "newt", "otter", "owl", "panda", "parrot", "pigeon", "puma",
    "quail", "rabbit", "raven", "seal", "shark", "sheep", "skunk", "sloth", "snail", "snake",
    "spider", "squid", "stork", "swan", "tiger", "toad", "trout", "turtle", "wasp", "whale",
    "wolf", "wombat", "yak", "zebra", "badger", "beaver", "bull", "calf", "clam", "cod", "coyote",
    "dingo", "donkey", "duck", "ferret", "apple", "apricot", "banana", "bean", "berry", "bread",
    "butter", "cherry", "cocoa", "coconut", "corn", "cream", "date", "fig", "garlic", "ginger",
    "grape", "honey", "kiwi", "lemon", "lime", "mango", "melon", "mint", "olive", "onion",
    "orange", "pea", "peach", "pear", "pepper", "plum", "potato", "pumpkin", "radish", "rice",
    "salt", "sugar", "tea", "tomato", "walnut", "wheat", "yogurt", "almond", "basil", "cheese",
    "cookie", "pasta", "brook", "canyon", "cave", "cliff", "cloud", "comet", "coral", "creek",
    "desert", "dune", "dust", "field", "flame", "forest", "frost", "glacier", "hill", "island",
    "lake", "leaf", "meadow", "moon", "ocean", "pebble", "planet", "pond", "rain", "reef", "river",
    "rock", "sand", "shore", "sky", "snow", "soil", "star", "stone", "storm", "stream", "sun",
    "thunder", "tide", "valley", "wave", "wind", "winter", "summer", "spring", "anchor", "arrow",
    "axe", "bell", "blanket", "boat", "bottle", "bowl", "box", "brick", "broom", "brush", "bucket",
    "button", "candle", "canoe", "carpet", "chair", "chalk", "clock", "coin", "compass", "cup",
    "drum", "fan", "fence", "flag", "flute", "fork", "glove", "hammer", "harp", "helmet", "hook",
    "kettle", "key", "kite", "ladder", "lamp", "lantern", "lock", "magnet", "mirror", "needle",
    "paddle", "pencil", "piano", "pillow", "pipe", "plate", "rope", "ruler", "sail", "scarf",
    "shovel", "spoon", "sword", "table", "tent", "ticket", "torch", "towel", "trumpet", "violin",
    "wagon", "wallet", "wheel", "whistle", "window", "basket", "camera", "guitar", "jacket",
    "ribbon", "rocket", "saddle", "engine", "globe", "crown", "barrel",
];

/// The word of one byte.
pub fn word(byte: u8) -> &'static str {
    WORDS.get(usize::from(byte)).copied().unwrap_or("?")
}

/// The words of `bytes`, separated by single spaces.
pub fn words(bytes: &[u8]) -> String {
    bytes.iter().map(|b| word(*b)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn all_256_words_are_distinct_short_and_lowercase() {
        let set: BTreeSet<_> = WORDS.iter().collect();
        assert_eq!(set.len(), 256);
        for w in WORDS {
            assert!((2..=7).contains(&w.len()), "{w}");
            assert!(w.bytes().all(|b| b.is_ascii_lowercase()), "{w}");
        }
    }

    #[test]
    fn bytes_become_words() {
        assert_eq!(words(&[0, 1, 255]), "ant bear barrel");
    }
}
