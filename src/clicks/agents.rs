//! Which user agents are crawlers, link previewers or HTTP libraries: the
//! maintained list in `assets/bots.txt` (its source is named there),
//! compiled once into one case-insensitive regular expression.

use std::sync::LazyLock;

static BOTS: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
    let patterns: Vec<&str> = include_str!("../../assets/bots.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    regex::bytes::RegexBuilder::new(&format!("(?:{})", patterns.join(")|(?:")))
        .case_insensitive(true)
        .build()
        .expect("assets/bots.txt holds valid patterns")
});

/// Whether a click with this `User-Agent` is a bot's: it matches the list,
/// or it is empty (an absent header counts as empty).
pub fn is_bot(user_agent: &[u8]) -> bool {
    user_agent.iter().all(u8::is_ascii_whitespace) || BOTS.is_match(user_agent)
}

#[cfg(test)]
mod tests {
    use super::is_bot;

    #[test]
    fn crawlers_previewers_and_libraries_are_bots_and_browsers_are_not() {
        for bot in [
            "",
            "   ",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            "TelegramBot (like TwitterBot)",
            "WhatsApp/2.23.20.0",
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
            "curl/8.5.0",
            "python-requests/2.31.0",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36",
        ] {
            assert!(is_bot(bot.as_bytes()), "{bot}");
        }
        for browser in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (Linux; Android 9; CUBOT X19) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0",
        ] {
            assert!(!is_bot(browser.as_bytes()), "{browser}");
        }
    }
}
