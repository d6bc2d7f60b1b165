//! Rules for instruction and chat rows: is the response worth training on?
//!
//! Each rule has its own reason, checked in this order:
//!
//! | reason | rule (defaults) |
//! |---|---|
//! | `empty_output` | the response has no non-whitespace character |
//! | `short_output` | fewer than `min_output_chars` (2) non-whitespace characters |
//! | `refusal` | the response contains refusal / AI-disclaimer boilerplate ([`EN_REFUSALS`], [`ZH_REFUSALS`], plus `extra_refusals`), case-insensitive |
//! | `output_repeats_instruction` | the response equals the instruction once both are lower-cased and reduced to letters and digits, or ≥ `max_instruction_overlap` (0.9) of its character 5-grams occur in the instruction |
//! | `unbalanced_code_fence` | an odd number of lines open or close a fence (```` ``` ```` or `~~~`) |
//! | `degenerate_repetition` | one character repeated `max_char_run` (20) times in a row (ASCII separators `-=_*#~.` and box drawing excepted), or ≥ `max_dup_ngram_frac` (0.3) of the characters in repeated 10-grams (words; characters for CJK) |
//! | `cut_off_output` | a response of ≥ `cut_off_min_chars` (200) characters ending mid-sentence: on a letter or ideograph, or on `, ， 、 : ： ; ； ( （ -`, unless its last line is a list item, table row or heading |
//! | `language_mismatch` | one side is clearly CJK (weighted CJK share ≥ 0.7, a CJK character weighing 3 letters) and the other clearly not (≤ 0.3); fenced code is ignored; each side needs ≥ `language_min_letters` (10) weighted letters; instructions that mention translation or a language are exempt |
//! | `length_ratio_low` / `length_ratio_high` | response characters / prompt characters outside `[min_length_ratio, max_length_ratio]` (0.01, 1000) |
//!
//! Chat rows check every assistant turn against the user turn before it; the first
//! failing turn gives the row's reason.

use serde::{Deserialize, Serialize};

use super::chars::*;
use super::gopher::{duplicated_ngram_chars, TokenTable};
use super::tokenize::{words, Language};
use crate::script::is_cjk;

/// English refusal and AI-disclaimer phrases (matched in lower case, `’` as `'`).
pub const EN_REFUSALS: &[&str] = &[
    "as an ai language model",
    "as a language model",
    "as an ai assistant",
    "as an ai model",
    "as an artificial intelligence",
    "i am an ai language model",
    "i'm an ai language model",
    "i'm just an ai",
    "i am just an ai",
    "i'm sorry, but i cannot",
    "i'm sorry, but i can't",
    "i am sorry, but i cannot",
    "i apologize, but i cannot",
    "i cannot fulfill",
    "i can't fulfill",
    "i cannot comply",
    "i can't assist with",
    "i cannot assist with",
    "i don't have personal opinions",
    "i do not have personal opinions",
    "i don't have personal feelings",
    "i do not have personal feelings",
    "i don't have the ability to",
    "i do not have the ability to",
    "my knowledge cutoff",
    "trained by openai",
    "developed by openai",
];

/// Chinese refusal and AI-disclaimer phrases (matched without whitespace, with
/// half-width commas read as full-width, Latin letters in lower case).
pub const ZH_REFUSALS: &[&str] = &[
    "作为一个ai语言模型",
    "作为ai语言模型",
    "作为一个人工智能语言模型",
    "作为人工智能语言模型",
    "作为一个语言模型",
    "作为语言模型",
    "作为一个ai",
    "作为一名ai",
    "作为一个人工智能",
    "作为一名人工智能",
    "作为人工智能",
    "我是一个ai",
    "我只是一个ai",
    "我是一个人工智能",
    "我只是一个人工智能",
    "我只是一个语言模型",
    "我是一个语言模型",
    "抱歉，我无法",
    "抱歉，我不能",
    "对不起，我无法",
    "对不起，我不能",
    "我无法回答",
    "我不能回答",
    "我无法提供",
    "我没有个人观点",
    "我没有个人意见",
    "我没有个人情感",
    "我没有个人喜好",
];

const LANGUAGE_WORDS: &[&str] = &[
    "translat", "english", "chinese", "mandarin", "cantonese", "french", "german", "spanish", "japanese",
    "翻译", "译成", "译为", "英文", "英语", "中文", "汉语", "日语", "法语", "德语", "文言",
];

/// Parameters of the `instruction` filter.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstructionConfig {
    pub min_output_chars: usize,
    pub check_refusals: bool,
    pub extra_refusals: Vec<String>,
    pub max_instruction_overlap: Option<f64>,
    pub check_code_fences: bool,
    pub max_char_run: Option<usize>,
    pub max_dup_ngram_frac: Option<f64>,
    pub cut_off_min_chars: Option<usize>,
    pub language_min_letters: Option<usize>,
    pub min_length_ratio: Option<f64>,
    pub max_length_ratio: Option<f64>,
}

impl Default for InstructionConfig {
    fn default() -> Self {
        Self {
            min_output_chars: 2,
            check_refusals: true,
            extra_refusals: Vec::new(),
            max_instruction_overlap: Some(0.9),
            check_code_fences: true,
            max_char_run: Some(20),
            max_dup_ngram_frac: Some(0.3),
            cut_off_min_chars: Some(200),
            language_min_letters: Some(10),
            min_length_ratio: Some(0.01),
            max_length_ratio: Some(1000.0),
        }
    }
}

/// One prompt / response pair to judge.
#[derive(Debug, Clone, Copy, Default)]
pub struct Exchange<'a> {
    pub instruction: &'a str,
    pub input: &'a str,
    pub output: &'a str,
}

/// The reason `exchange` is removed, or `None` when it is kept.
///
/// ```
/// use assay_core::quality::instruction::{check_exchange, Exchange, InstructionConfig};
/// let c = InstructionConfig::default();
/// let ex = Exchange { instruction: "Name a color.", input: "", output: "As an AI language model, I like blue." };
/// assert_eq!(check_exchange(&ex, &c), Some("refusal"));
/// ```
pub fn check_exchange(ex: &Exchange, c: &InstructionConfig) -> Option<&'static str> {
    let output = py_strip(ex.output);
    let visible = output.chars().filter(|ch| !is_py_space(*ch)).count();
    if visible == 0 {
        return Some("empty_output");
    }
    if visible < c.min_output_chars {
        return Some("short_output");
    }
    if c.check_refusals && is_refusal(output, &c.extra_refusals) {
        return Some("refusal");
    }
    if let Some(t) = c.max_instruction_overlap {
        if repeats_instruction(ex.instruction, output, t) {
            return Some("output_repeats_instruction");
        }
    }
    if c.check_code_fences && !code_fences_balanced(output) {
        return Some("unbalanced_code_fence");
    }
    if degenerate(output, c) {
        return Some("degenerate_repetition");
    }
    if c.cut_off_min_chars.is_some_and(|min| char_len(output) >= min) && ends_mid_sentence(output) {
        return Some("cut_off_output");
    }
    if let Some(min_letters) = c.language_min_letters {
        let prompt = format!("{}\n{}", ex.instruction, ex.input);
        if language_mismatch(&prompt, output, min_letters) {
            return Some("language_mismatch");
        }
    }
    let prompt_chars = char_len(ex.instruction) + char_len(ex.input);
    if prompt_chars > 0 {
        let ratio = char_len(output) as f64 / prompt_chars as f64;
        if c.min_length_ratio.is_some_and(|t| ratio < t) {
            return Some("length_ratio_low");
        }
        if c.max_length_ratio.is_some_and(|t| ratio > t) {
            return Some("length_ratio_high");
        }
    }
    None
}

/// True when `output` holds refusal boilerplate.
pub fn is_refusal(output: &str, extra: &[String]) -> bool {
    let lower = output.to_lowercase().replace('’', "'");
    if EN_REFUSALS.iter().any(|p| lower.contains(p)) || extra.iter().any(|p| lower.contains(&p.to_lowercase())) {
        return true;
    }
    if output.chars().any(is_cjk) {
        let compact: String = lower.chars().filter(|c| !is_py_space(*c)).map(|c| if c == ',' { '，' } else { c }).collect();
        return ZH_REFUSALS.iter().any(|p| compact.contains(p));
    }
    false
}

fn letters_and_digits(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// True when the response repeats the instruction (see the module table).
pub fn repeats_instruction(instruction: &str, output: &str, max_overlap: f64) -> bool {
    let out = letters_and_digits(output);
    let ins = letters_and_digits(instruction);
    if out.is_empty() || ins.is_empty() {
        return false;
    }
    if out == ins {
        return true;
    }
    let out_chars: Vec<char> = out.chars().collect();
    let ins_chars: Vec<char> = ins.chars().collect();
    const K: usize = 5;
    if out_chars.len() < K || ins_chars.len() < K {
        return false;
    }
    let grams: std::collections::HashSet<&[char]> = ins_chars.windows(K).collect();
    let total = out_chars.len() - K + 1;
    let shared = out_chars.windows(K).filter(|w| grams.contains(w)).count();
    shared as f64 / total as f64 >= max_overlap
}

/// True when every code fence that opens also closes.
pub fn code_fences_balanced(output: &str) -> bool {
    let fences = output
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            t.starts_with("```") || t.starts_with("~~~")
        })
        .count();
    fences % 2 == 0
}

fn is_separator(c: char) -> bool {
    matches!(c, '-' | '=' | '_' | '*' | '#' | '~' | '.' | '\u{2500}'..='\u{257F}')
}

fn degenerate(output: &str, c: &InstructionConfig) -> bool {
    if let Some(max_run) = c.max_char_run {
        let (mut prev, mut run) = ('\0', 0usize);
        for ch in output.chars() {
            if ch == prev {
                run += 1;
            } else {
                prev = ch;
                run = 1;
            }
            if run >= max_run && !is_py_space(ch) && !is_separator(ch) {
                return true;
            }
        }
    }
    if let Some(max_frac) = c.max_dup_ngram_frac {
        let language = if output.chars().any(is_cjk) { Language::Chinese } else { Language::English };
        let tokens = words(output, language);
        let table = TokenTable::new(&tokens);
        let dup = duplicated_ngram_chars(&table, 10);
        if dup as f64 / char_len(output) as f64 >= max_frac {
            return true;
        }
    }
    false
}

/// True when the response stops mid-sentence. A last line that is a list item
/// (`1.`, `-`, `*`, `•`), a table row or a heading is not judged.
pub fn ends_mid_sentence(output: &str) -> bool {
    let trimmed = output.trim_end_matches(is_py_space);
    let last_line = py_strip(trimmed.rsplit('\n').next().unwrap_or(""));
    let digits = last_line.bytes().take_while(|b| b.is_ascii_digit()).count();
    let list_item = (digits > 0 && last_line[digits..].starts_with(['.', ')', '、', '）']))
        || last_line.starts_with(['-', '*', '•', '|', '#', '>']);
    if list_item {
        return false;
    }
    match trimmed.chars().next_back() {
        Some(c) => is_py_alpha(c) || matches!(c, ',' | '，' | '、' | ':' | '：' | ';' | '；' | '(' | '（' | '-'),
        None => false,
    }
}

/// (CJK characters, other letters) of a text, outside fenced code blocks.
fn script_counts(s: &str) -> (usize, usize) {
    let (mut cjk, mut other) = (0, 0);
    let mut in_code = false;
    for line in s.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        for c in line.chars() {
            if is_cjk(c) {
                cjk += 1;
            } else if is_py_alpha(c) {
                other += 1;
            }
        }
    }
    (cjk, other)
}

/// Share of CJK in a text's letters, a CJK character weighing 3 letters (it carries
/// about as much as a short word); `None` below `min_letters` weighted letters.
fn cjk_share(s: &str, min_letters: usize) -> Option<f64> {
    let (cjk, other) = script_counts(s);
    let weighted = 3 * cjk + other;
    (weighted >= min_letters).then(|| (3 * cjk) as f64 / weighted as f64)
}

/// True when the prompt and the response are clearly written in different scripts
/// (weighted CJK share ≥ 0.7 on one side and ≤ 0.3 on the other; fenced code is
/// ignored) and the prompt does not mention a language or a translation.
pub fn language_mismatch(prompt: &str, output: &str, min_letters: usize) -> bool {
    let (Some(p), Some(o)) = (cjk_share(prompt, min_letters), cjk_share(output, min_letters)) else {
        return false;
    };
    let clear_mismatch = (p >= 0.7 && o <= 0.3) || (p <= 0.3 && o >= 0.7);
    if !clear_mismatch {
        return false;
    }
    let lower = prompt.to_lowercase();
    !LANGUAGE_WORDS.iter().any(|w| lower.contains(w))
}

/// Judge a chat: every assistant turn against the user turn before it.
pub fn check_chat<'a>(turns: impl IntoIterator<Item = (&'a str, &'a str)>, c: &InstructionConfig) -> Option<&'static str> {
    let mut last_user = "";
    let mut answered = false;
    for (role, content) in turns {
        match role.to_ascii_lowercase().as_str() {
            "user" | "human" | "prompter" => last_user = content,
            "assistant" | "gpt" | "bot" | "model" | "chatgpt" => {
                answered = true;
                let ex = Exchange { instruction: last_user, input: "", output: content };
                if let Some(reason) = check_exchange(&ex, c) {
                    return Some(reason);
                }
            }
            _ => {}
        }
    }
    (!answered).then_some("empty_output")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(instruction: &str, input: &str, output: &str) -> Option<&'static str> {
        check_exchange(&Exchange { instruction, input, output }, &InstructionConfig::default())
    }

    #[test]
    fn each_rule() {
        assert_eq!(check("Say hi.", "", "  \n"), Some("empty_output"));
        assert_eq!(check("Pick one.", "", "B"), Some("short_output"));
        assert_eq!(check("Pick one.", "", "B."), None);
        assert_eq!(check("写一首诗", "", "作为一个AI语言模型，我无法写诗。"), Some("refusal"));
        assert_eq!(check("写一首诗", "", "抱歉,我无法完成。"), Some("refusal"));
        assert_eq!(check("Tell me.", "", "I’m sorry, but I can’t do that."), Some("refusal"));
        assert_eq!(check("Repeat after me: hello world", "", "Repeat after me: Hello, world!"), Some("output_repeats_instruction"));
        assert_eq!(check("Write code.", "", "```python\nprint(1)\n"), Some("unbalanced_code_fence"));
        assert_eq!(check("Write code.", "", "```python\nprint(1)\n```"), None);
        assert_eq!(check("Laugh.", "", &"哈".repeat(25)), Some("degenerate_repetition"));
        assert_eq!(check("Draw a line.", "", &"-".repeat(40)), None);
        let loop_text = "the model keeps saying the same thing over and over again here. ".repeat(5);
        assert_eq!(check("Talk.", "", &loop_text), Some("degenerate_repetition"));
        let long_cut: String = (0..40).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ") + " and the";
        assert_eq!(check("Explain.", "", &long_cut), Some("cut_off_output"));
        assert_eq!(check("Explain.", "", &format!("{long_cut} end.")), None);
        assert_eq!(check("请介绍一下北京的历史和文化。", "", "Beijing is the capital of China and has a long history."), Some("language_mismatch"));
        assert_eq!(check("请把这句话翻译成英文：北京是中国的首都。", "", "Beijing is the capital of China."), None);
        let long_prompt = "x".repeat(500);
        assert_eq!(check(&long_prompt, "", "ok"), Some("length_ratio_low"));
        let long_out = "word ".repeat(400);
        let config = InstructionConfig {
            max_length_ratio: Some(10.0),
            max_dup_ngram_frac: None,
            cut_off_min_chars: None,
            ..Default::default()
        };
        let ex = Exchange { instruction: "Go.", input: "", output: &long_out };
        assert_eq!(check_exchange(&ex, &config), Some("length_ratio_high"));
    }

    #[test]
    fn chats() {
        let c = InstructionConfig::default();
        let good = [("user", "What is 2+2?"), ("assistant", "4."), ("user", "And 3+3?"), ("assistant", "6.")];
        assert_eq!(check_chat(good, &c), None);
        let bad = [("user", "What is 2+2?"), ("assistant", "4."), ("user", "Why?"), ("assistant", " ")];
        assert_eq!(check_chat(bad, &c), Some("empty_output"));
        assert_eq!(check_chat([("user", "hi")], &c), Some("empty_output"));
    }
}
