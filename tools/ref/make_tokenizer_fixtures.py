"""Writes the tokenizer fixtures: tests/fixtures/tokenizer/tokens.jsonl and meta.json.

Every line of tokens.jsonl is one case tokenized by open_clip's SimpleTokenizer (default "lower"
cleaning): {"text": str, "ids": [context_length ints], "ftfy_changed": bool, "ftfy_touched": bool}
plus, for some cases, "context_length" (default 77) and "bytes_hex": the raw input bytes. Those
are given where the input is not valid UTF-8 ("text" is then what Python's
bytes.decode("utf-8", errors="replace") makes of them, and the C side must read the bytes the same
way) or holds a NUL character (which a JSON parser in C cannot hand over).

ftfy_changed marks the cases our cleaning subset is known not to reproduce: those where
ftfy.fix_text(text) differs from ftfy.fix_text(text, fix_encoding=False), i.e. where ftfy's
mojibake repair (the part docs/TOKENIZER.md leaves out) changes the text. ftfy_touched says
whether ftfy.fix_text changed the text at all (informational: most such cases are fixes the
subset does reproduce, such as curly quotes, HTML entities, fullwidth forms or NFC).

Re-run: .venv-ref/bin/python tools/ref/make_tokenizer_fixtures.py
Deterministic: the hand-written cases are fixed and the generated ones use random.Random(20240611).
"""
import json
import os
import random

import ftfy
from open_clip.tokenizer import SimpleTokenizer

OUT_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "tokenizer")

HAND_WRITTEN = [
    # The prompt every CLIP user knows, and plain captions.
    "a photo of a cat",
    "a photo of a dog.",
    "A PHOTO OF A CAT",
    "a bad photo of the {}.",
    "a photo of many {}.",
    "a sculpture of a {}.",
    "itap of my {}.",
    "a close-up photo of the large tabby cat sitting on a red sofa",
    "",
    " ",
    "   leading and trailing   ",
    "x",
    "X",
    "1",
    "!",
    "?!?!",
    "hello world",
    "Hello, World!",
    "This is a test. This is only a test.",
    "the quick brown fox jumps over the lazy dog",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
    "The Quick Brown Fox Jumps Over The Lazy Dog",
    "camelCaseWordsAndMoreCamelCase",
    "snake_case_words_and_more",
    "kebab-case-words-and-more",
    "e-mail: someone@example.com, web: https://example.com/path?q=1&r=2#frag",
    "C:\\Program Files\\thing.exe",
    "/usr/local/bin/python3.11",
    "<start_of_text>",
    "<end_of_text>",
    "<START_OF_TEXT> shouting",
    "a <start_of_text> in the middle <end_of_text> here",
    "<<start_of_text>>",
    "<start_of_text",
    "start_of_text>",
    "<start of text>",
    "<|endoftext|>",
    # Contractions in many cases and shapes.
    "it's", "don't", "you're", "we've", "I'm", "we'll", "he'd",
    "IT'S", "DON'T", "YOU'RE", "WE'VE", "I'M", "WE'LL", "HE'D",
    "It'S", "Don'T", "You'Re", "We'Ve", "I'M", "We'Ll", "He'D",
    "'s 't 're 've 'm 'll 'd",
    "'S 'T 'RE 'VE 'M 'LL 'D",
    "''s", "'''", "'", "''", "'x", "'sx", "'ss", "'ll've", "rock'n'roll",
    "the dog's bone and the cats' toys",
    "o'clock, ma'am, y'all'd've",
    "'\u017f",  # ' + long s: matches 's only case-insensitively
    "it\u2019s a cat\u2019s life",  # curly apostrophes
    "\u2018single\u2019 and \u201cdouble\u201d quotes",
    "\u201ehigh-low\u201c and \u201flow\u201d",
    "\u02bcmodifier apostrophe\u02bcs",
    "`backticks` and \u00b4acute\u00b4",
    # Punctuation.
    "...", "\u2026", "---", "\u2014 em \u2013 en dash", "!!!???", "(parens) [brackets] {braces}",
    "a,b;c:d.e!f?g", "#hashtag @mention $100 %50 ^caret &amp *star", "~tilde~ |pipe| \\back\\",
    "\"quoted\"", "semi;colon;", "a+b=c", "1+1=2", "<tag>", "<b>bold</b> text", "x < y > z",
    "\u00bfQu\u00e9? \u00a1Hola!", "\u00ab guillemets \u00bb \u2039 single \u203a",
    "\u3001\u3002\u300c\u300d\u300e\u300f", "\uff01\uff1f\uff08fullwidth\uff09",
    # Numbers.
    "0", "42", "3.14159", "1,000,000", "1e10", "-273.15", "+1 (555) 123-4567", "2024-06-11",
    "12:34:56", "0xDEADBEEF", "v1.2.3", "123456789012345678901234567890", "\u00bd \u00bc \u00be",
    "\u0661\u0662\u0663", "\u0967\u0968\u0969", "\u2460\u2461\u2462", "\u2160\u2161\u2162 \u2170\u2171",
    "\u00b2 \u00b3 \u00b9", "\u2070\u2074\u2075", "\uff11\uff12\uff13", "\u4e00\u4e8c\u4e09",
    "route 66", "B-52", "4x4", "3rd 2nd 1st 21st",
    # Latin with diacritics, German, French, Nordic, Polish, Turkish.
    "caf\u00e9", "CAF\u00c9", "cafe\u0301", "CAFE\u0301", "na\u00efve r\u00e9sum\u00e9 fa\u00e7ade",
    "Stra\u00dfe", "STRASSE", "STRA\u1e9eE", "\u00df", "\u1e9e", "Gr\u00fc\u00dfe aus M\u00fcnchen",
    "\u00c4\u00d6\u00dc\u00e4\u00f6\u00fc", "\u00c5ngstr\u00f6m \u212bngstr\u00f6m", "\u00e6\u00f8\u00e5 \u00c6\u00d8\u00c5",
    "\u017b\u00f3\u0142\u0107 g\u0119\u015bl\u0105 ja\u017a\u0144", "\u0141\u00d3D\u0179",
    "\u0130stanbul", "ISTANBUL", "\u0131\u0130iI", "D\u0130YARBAKIR", "i\u0307", "I\u0307",
    "T\u00fcrk\u00e7e \u00c7\u0130\u011e\u015e", "\u0130\u0307", "K\u212a kelvin", "\u212b",
    "\u0149 \u01c4 \u01c5 \u01c6 \u01c7 \u01c8 \u01c9 \u01ca \u01cb \u01cc \u01f1 \u01f2 \u01f3",
    "\u0132SSEL \u0133s", "\ufb00 \ufb01 \ufb02 \ufb03 \ufb04 \ufb05 \ufb06", "e\ufb03cient o\ufb03ce",
    "\u1e9b\u0323", "\u01c5", "\u1f88", "\u1f80", "\u0390",
    # Greek, with final sigma rules.
    "\u039f\u0394\u039f\u03a3", "\u03bf\u03b4\u03bf\u03c3", "\u03a3", "\u03a3\u03a3", "\u0391\u03a3",
    "\u0391\u03a3 \u0392", "\u0391\u03a3\u0392", "\u0391\u03a3.", "\u0391\u03a3'\u0392", "\u0391'\u03a3",
    "\u0391\u0301\u03a3", "\u0391\u03a3\u0301", "\u0391\u03a3\u0301\u0392", "1\u03a3", "\u00aa\u03a3",
    "\u039a\u0391\u039b\u0397\u039c\u0395\u03a1\u0391 \u039a\u039f\u03a3\u039c\u0395",
    "\u0391\u0398\u0397\u039d\u0391 \u0395\u039b\u039b\u0391\u03a3", "\u1f08\u03a3\u1f08",
    "\u0391\u03a3\u00ad", "\u0391\u03a3\u200d\u0392", "\u0391\u03a3\u02b0",
    # Cyrillic, Armenian, Georgian.
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!", "\u041c\u041e\u0421\u041a\u0412\u0410",
    "\u0401\u043b\u043a\u0430 \u0401\u0416", "\u0534\u0561\u0580\u0565\u0582 \u0587",
    "\u10e5\u10d0\u10e0\u10d7\u10e3\u10da\u10d8", "\u1c90\u1c91\u1c92",
    # Right to left, Indic, South-East Asian.
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "\u0627\u0644\u0639\u064e\u0631\u064e\u0628\u0650\u064a\u064e\u0651\u0629",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd", "\u05e9\u05b8\u05c1\u05dc\u05d5\u05b9\u05dd",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\u0b9a\u0bc6\u0ba9\u0bcd\u0ba9\u0bc8", "\u0c95\u0ca8\u0ccd\u0ca8\u0ca1",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a", "\u0ea5\u0eb2\u0ea7",
    "\u1019\u103c\u1014\u103a\u1019\u102c", "\u1781\u17d2\u1798\u17c2\u179a",
    "\u0dc3\u0dd2\u0d82\u0dc4\u0dbd", "\u0f56\u0f7c\u0f51\u0f0b",
    # CJK, Japanese, Korean.
    "\u4f60\u597d\uff0c\u4e16\u754c", "\u732b\u306e\u5199\u771f", "\u3053\u3093\u306b\u3061\u306f",
    "\u30ab\u30bf\u30ab\u30ca", "\uff76\uff80\uff76\uff85 \uff8a\uff9f\uff9d \uff76\uff9e",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8", "\u1112\u1161\u11ab\u1100\u1173\u11af",
    "\uffa1\uffa2\uffa3", "\u6f22\u5b57\u304b\u306a\u4ea4\u3058\u308a\u6587",
    "\u3000\u5168\u89d2\u3000\u30b9\u30da\u30fc\u30b9\u3000", "\u3131\u314f", "\ud7a3",
    "\U00020000\U0002a6d6", "\u3400\u4dbf",
    # Emoji: single, skin tones, ZWJ sequences, flags, keycaps, variation selectors.
    "\U0001f600", "\U0001f408 cat emoji", "\U0001f44d\U0001f3fb \U0001f44d\U0001f3fc \U0001f44d\U0001f3fd \U0001f44d\U0001f3fe \U0001f44d\U0001f3ff",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466", "\U0001f3f3\ufe0f\u200d\U0001f308",
    "\U0001f1fa\U0001f1f8 \U0001f1ef\U0001f1f5 \U0001f1e9\U0001f1ea", "#\ufe0f\u20e3 1\ufe0f\u20e3",
    "\u2764\ufe0f \u2764", "\U0001f469\U0001f3fd\u200d\U0001f4bb", "\U0001f3f4\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f",
    "I \u2764\ufe0f NY", "\U0001f602\U0001f602\U0001f602\U0001f602", "\u263a\u263b", "\u2705 \u274c \u2b50",
    "\U0001f9d1\u200d\U0001f91d\u200d\U0001f9d1", "\U0001f431\u200d\U0001f464",
    # Whitespace variants.
    "tab\tseparated\tvalues", "new\nline", "carriage\rreturn", "windows\r\nline", "form\ffeed",
    "vertical\x0btab", "non\u00a0breaking\u00a0space", "thin\u2009space", "ideographic\u3000space",
    "line\u2028separator", "para\u2029separator", "next\x85line", "narrow\u202fnbsp",
    "ogham\u1680space", "zero\u200bwidth", "mongolian\u180evowel", "file\x1cseparator",
    "  many   spaces   between  ", "\t\n mixed \r\n whitespace \x0c\x0b ", "\u00a0\u00a0",
    "word\u200cnon\u200djoiner", "byte\ufefforder", "soft\u00adhyphen",
    # Control characters, terminal escapes, C1 controls.
    "bell\x07char", "null\x00byte", "esc\x1b[31mred\x1b[0m text", "esc\x1b[1;32;40mgreen", "\x1b[2Jclear",
    "esc\x1b[\u0661mdigit", "esc\x1bnot", "del\x7fchar", "c1\x80\x81\x85\x8d\x91\x92\x93\x94\x9f",
    "\u206a\u206b deprecated", "\ufff9annotation\ufffb", "object\ufffcreplacement", "\ufffd replacement",
    "private\ue000use", "\U000f0000", "nonchar\ufdd0\ufffe", "tag\U000e0041\U000e0042",
    # HTML entities, named and numeric, with and without semicolons, nested, with '<'.
    "&amp;", "&amp", "&lt;b&gt;", "&lt;b&gt;bold&lt;/b&gt;", "fish &amp; chips", "fish & chips",
    "&quot;quoted&quot;", "&apos;single&apos;", "&#39;", "&#039;", "&#x27;", "&#X27;", "&#65;&#66;&#67;",
    "&#x41;&#x42;", "&#65", "&#x41", "&#0;", "&#13;", "&#128;", "&#x80;", "&#x9F;", "&#150;&#151;",
    "&#1;", "&#x7f;", "&#xD800;", "&#1114111;", "&#1114112;", "&#99999999999999999999;", "&#x110000;",
    "&#xFFFE;", "&#xfdd0;", "&#x1F600;", "&#128512;", "&#59;", "&#x3b;", "&#12ab;", "&#xZZ;", "&#;", "&#x;",
    "&nbsp;", "&nbsp", "a&nbsp;b", "&copy; 2024", "&copy 2024", "&reg;&trade;", "&eacute;t&eacute;",
    "&Eacute;", "&EACUTE;", "P&EACUTE;REZ", "&NTILDE;", "&nTILDE;", "&SZLIG;", "&szlig;", "&AMP;",
    "&AMP", "&GT;", "&Gt;", "&NotEqualTilde;", "&notin;", "&notit;", "&not", "&notanentity;", "this&not that",
    "&ampx", "&amp;amp;", "&amp;amp;amp;", "&amp;amp;amp;amp;", "&amp;lt;", "&amp;#39;",
    "&lt;tag&gt; &amp;amp;", "<p>&amp;amp;</p>", "<br>\n&amp;amp;", "&amp;amp;\n<br>", "a\n<b>\n&amp;amp;",
    "&frac12; &frac14; &frac34;", "&alpha;&beta;&gamma; &Alpha;&Omega;", "&hellip;&mdash;&ndash;",
    "&lsquo;&rsquo;&ldquo;&rdquo;", "&bull; &middot; &deg;", "&euro;&pound;&yen;&cent;",
    "&larr;&rarr;&uarr;&darr;", "&hearts;&spades;&clubs;&diams;", "&Sigma;&sigma;&sigmaf;", "&#931;",
    "&ThisIsAVeryLongNameThatIsNotAnEntityAtAllReally;", "&abcdefghijklmnopqrstuvwxyzabcdefgh;",
    "& amp;", "&;", "&&amp;", "&\tamp;", "&am\u00e9;", "&#x1F468;&#x200D;&#x1F469;", "&zwj;&zwnj;",
    "&Tab;x&NewLine;y", "&#9;&#10;", "&lt&gt", "&LT&GT",
    # NFC: decomposed forms and canonical reordering.
    "e\u0301", "a\u0308o\u0308u\u0308", "\u1100\u1161\u11a8", "a\u0323\u0302", "a\u0302\u0323",
    "\u212b\u2126\u00c5", "\u0344", "\u0958", "\u2000", "\u1e0b\u0323", "q\u0307\u0323",
    # Mixed case and unusual letters.
    "\u01c4\u01c5\u01c6 title", "\u1e9e\u00df\u1e9e", "\u0130\u0131", "\u03f4\u03d1", "\u2126 ohm",
    "\u00b5 micro \u03bc", "\u017f long s", "\u1e9b", "\u0345\u0399", "\u24b6\u24b7\u24d0",
    "\U0001d400\U0001d401\U0001d41a", "\U0001f130\U0001f131", "\U00010400\U00010428", "\u2c00\u2c30",
    "\ua640\ua641", "\u0186\u0254", "\u0041\u030a",
    # Mojibake that only ftfy's fix_encoding repairs (marked ftfy_changed).
    "s\u00c3\u00b3", "\u00e2\u0153\u201d No problems", "caf\u00c3\u00a9", "voil\u00c3\u00a0 le travail",
    "\u00c3\u00a9t\u00c3\u00a9", "The Mona Lisa doesn\u00e2\u20ac\u2122t have eyebrows.",
    "\u00e6\u0096\u0087\u00e5\u00ad\u0097\u00e5\u008c\u0096\u00e3\u0081\u0091",
    # Long inputs, well past 77 tokens.
    "a photo of a cat " * 30,
    "a" * 300,
    "A" * 1000,
    "abcdefghijklmnopqrstuvwxyz" * 20,
    "supercalifragilisticexpialidocious " * 10,
    "1234567890" * 40,
    "!?" * 200,
    "\U0001f408" * 100,
    "\u732b" * 200,
    "\u0928\u092e\u0938\u094d\u0924\u0947 " * 50,
    "word " * 74, "word " * 75, "word " * 76, "word " * 77,
    ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut "
     "labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco "
     "laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in "
     "voluptate velit esse cillum dolore eu fugiat nulla pariatur."),
]

# Inputs with bytes that are not valid UTF-8 (the C API takes bytes; Python would need them
# decoded with errors="replace" first).
INVALID_UTF8 = [
    b"\xff", b"caf\xe9", b"\xc3", b"\xc3(", b"\xe2\x82", b"\xe2\x82(", b"\xf0\x9f\x98",
    b"\xf0\x9f\x98(", b"\x80\x80", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
    b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xf8\x88\x80\x80\x80", b"a\xfeb\xffc",
    b"\xed\xa0\xbd\xed\xb2\xa9", b"ok \xe2\x9c\x94 \xe2\x9c", b"\xef\xbb\xbfbom", b"\xc2\xa0nbsp\xc2",
]

# Small context lengths: truncation keeps <end_of_text> last.
SHORT_CONTEXT = [("a photo of a cat", 5), ("a photo of a cat", 7), ("a photo of a cat", 8),
                 ("a photo of a cat", 2), ("a photo of a cat", 1), ("", 1), ("", 2), ("x", 3),
                 ("\U0001f468\u200d\U0001f469\u200d\U0001f467", 4)]

# Character pools for generated strings: many scripts and the characters the cleaning treats
# specially. All are assigned in Unicode 13, which every library involved knows.
POOLS = {
    "ascii": [chr(c) for c in range(0x20, 0x7F)],
    "latin": [chr(c) for c in range(0xC0, 0x250) if c not in (0xD7, 0xF7)],
    "greek": [chr(c) for c in range(0x391, 0x3CA) if c != 0x3A2] + ["\u03a3"] * 10,
    "cyrillic": [chr(c) for c in range(0x400, 0x460)],
    "arabic": [chr(c) for c in range(0x621, 0x64B)] + [chr(c) for c in range(0x660, 0x66A)],
    "hebrew": [chr(c) for c in range(0x5D0, 0x5EB)],
    "devanagari": [chr(c) for c in range(0x905, 0x93A)] + [chr(c) for c in range(0x966, 0x970)] + ["\u094d", "\u093e", "\u0947"],
    "thai": [chr(c) for c in range(0xE01, 0xE2F)] + ["\u0e31", "\u0e34", "\u0e48"],
    "cjk": [chr(c) for c in range(0x4E00, 0x4E00 + 400)],
    "kana": [chr(c) for c in range(0x3041, 0x3097)] + [chr(c) for c in range(0x30A1, 0x30FB)],
    "hangul": [chr(c) for c in range(0xAC00, 0xAC00 + 300)] + [chr(c) for c in range(0x1100, 0x1113)] + [chr(c) for c in range(0x1161, 0x1176)],
    "halfwidth": [chr(c) for c in range(0xFF01, 0xFFBF)] + [chr(c) for c in range(0xFFC2, 0xFFDD)] + [chr(c) for c in range(0xFFE0, 0xFFEF)],
    "combining": [chr(c) for c in range(0x300, 0x370)] + ["\u20dd", "\u20e3", "\u0e38"],
    "emoji": [chr(c) for c in range(0x1F600, 0x1F650)] + [chr(c) for c in range(0x1F3FB, 0x1F400)] + ["\u200d", "\ufe0f", "\u2764", "\U0001f1fa", "\U0001f1f8"],
    "punct": list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["\u2018", "\u2019", "\u201c", "\u201d", "\u2026", "\u2014", "\u00a1", "\u00bf", "\u00b7", "\u02bc"],
    "digits": list("0123456789") + [chr(c) for c in range(0x660, 0x66A)] + ["\u00b2", "\u00bd", "\u2160", "\u2460", "\uff11"],
    "space": [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\u00a0", "\u2003", "\u3000", "\u2028", "\x85", "\u200b", "\u180e", "\x1c"],
    "control": ["\x00", "\x01", "\x1b", "\x7f", "\x80", "\x92", "\x9f", "\ufeff", "\u206a", "\ufffc"],
    "special": ["\u0130", "\u0131", "\u00df", "\u1e9e", "\u212a", "\u017f", "\u00aa", "\u0345",
                "\ufb01", "\u0133", "\u01c6", "\u2126", "&", ";", "#"],
    "entity": ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&#x2019;", "&nbsp;", "&eacute;", "&EACUTE;",
               "&amp", "&copy", "&#65", "&hellip;", "&Sigma;", "&amp;amp;", "&notin;", "&not"],
    "contraction": ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'VE", "'M", "'LL", "'D"],
}


def random_string(rng, pools, length):
    parts = []
    for _ in range(length):
        pool = POOLS[rng.choice(pools)]
        parts.append(rng.choice(pool))
    return "".join(parts)


def generated_cases(rng):
    cases = []
    names = sorted(POOLS)
    for _ in range(120):  # mixtures of a few pools, short to medium
        pools = rng.sample(names, rng.randint(1, 4))
        cases.append(random_string(rng, pools, rng.randint(1, 40)))
    for _ in range(60):  # words of one script separated by spaces
        script = rng.choice(["ascii", "latin", "greek", "cyrillic", "arabic", "hebrew", "devanagari",
                             "thai", "cjk", "kana", "hangul"])
        words = [random_string(rng, [script], rng.randint(1, 9)) for _ in range(rng.randint(1, 8))]
        cases.append(" ".join(words))
    for _ in range(40):  # English-like words with random casing, punctuation and contractions
        words = []
        for _ in range(rng.randint(2, 12)):
            word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 10)))
            if rng.random() < 0.3:
                word = word.upper() if rng.random() < 0.5 else word.capitalize()
            if rng.random() < 0.2:
                word += rng.choice(POOLS["contraction"])
            if rng.random() < 0.2:
                word += rng.choice(POOLS["punct"])
            words.append(word)
        cases.append(rng.choice([" ", "  ", "\t", "\u00a0"]).join(words))
    for _ in range(20):  # long mixtures, well past the context length
        pools = rng.sample(names, rng.randint(2, 6))
        cases.append(random_string(rng, pools, rng.randint(100, 400)))
    return cases


def main():
    tokenizer = SimpleTokenizer()
    rng = random.Random(20240611)
    os.makedirs(OUT_DIR, exist_ok=True)

    def case(text, context_length=77, raw=None):
        ids = tokenizer([text], context_length=context_length)[0].tolist()
        full = ftfy.fix_text(text)
        record = {"text": text, "ids": ids,
                  "ftfy_changed": full != ftfy.fix_text(text, fix_encoding=False),
                  "ftfy_touched": full != text}
        if context_length != 77:
            record["context_length"] = context_length
        if raw is None and "\x00" in text:
            raw = text.encode("utf-8")
        if raw is not None:
            record["bytes_hex"] = raw.hex()
        return record

    records = [case(t) for t in HAND_WRITTEN]
    records += [case(raw.decode("utf-8", errors="replace"), raw=raw) for raw in INVALID_UTF8]
    records += [case(t, n) for t, n in SHORT_CONTEXT]
    records += [case(t) for t in generated_cases(rng)]
    with open(os.path.join(OUT_DIR, "tokens.jsonl"), "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=True) + "\n")
    meta = {"vocab_size": tokenizer.vocab_size, "sot": tokenizer.sot_token_id,
            "eot": tokenizer.eot_token_id, "context_length": 77}
    with open(os.path.join(OUT_DIR, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print("%d cases, %d ftfy_changed, %d ftfy_touched" % (
        len(records), sum(r["ftfy_changed"] for r in records), sum(r["ftfy_touched"] for r in records)))


if __name__ == "__main__":
    main()
