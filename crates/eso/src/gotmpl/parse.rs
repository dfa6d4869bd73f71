//! From template text to a tree, as Go's `text/template/parse` reads it: text and
//! actions with trim markers and comments, then pipelines of commands over fields,
//! variables, functions and constants.

use std::collections::BTreeMap;

use super::{Fault, fault, funcs};

/// A node of the template tree; each carries its byte offset for messages.
#[derive(Debug)]
pub enum Node {
    /// Text copied to the output.
    Text(String),
    /// `{{pipeline}}`: the pipeline's value printed, unless it declares variables.
    Action(Pipe),
    /// `{{if}}`, `{{with}}` or `{{range}}`, with their bodies.
    Branch {
        kind: Branch,
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    /// `{{break}}` or `{{continue}}` inside a range.
    Loop { stop: bool },
    /// `{{template "name" pipeline}}`.
    Call {
        at: usize,
        name: String,
        pipe: Option<Pipe>,
    },
}

/// The three branching actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Branch {
    If,
    With,
    Range,
}

/// A pipeline: optional variable declarations, then commands joined by `|`.
#[derive(Debug)]
pub struct Pipe {
    pub at: usize,
    pub vars: Vec<String>,
    /// `=` (assign to existing variables) rather than `:=`.
    pub assign: bool,
    pub commands: Vec<Command>,
}

/// One command of a pipeline: an operand, or a function and its arguments.
#[derive(Debug)]
pub struct Command {
    pub at: usize,
    pub args: Vec<Arg>,
}

/// An operand.
#[derive(Debug)]
pub enum Arg {
    /// `.`
    Dot,
    /// `.a.b`
    Field(Vec<String>),
    /// `$x.a.b` (`$` alone is the data).
    Var(String, Vec<String>),
    /// A function name.
    Func(String),
    /// `(pipeline).a.b`
    Pipe(Box<Pipe>, Vec<String>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(String),
    Open,
    Close,
    Ident(String),
    Field(String),
    Dot,
    Var(String),
    Str(String),
    Int(i64),
    Float(f64),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
    Eof,
}

/// A token, its offset, and whether it follows the previous one without a space (what
/// makes `.a.b` one chain and `.a .b` two arguments).
#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    at: usize,
    joined: bool,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_word(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

fn lex(src: &str) -> Result<Vec<Token>, Fault> {
    let mut tokens = Vec::new();
    let mut pos = 0;
    let mut trim_next = false;
    while pos < src.len() {
        let open = src[pos..].find("{{").map_or(src.len(), |i| pos + i);
        let left_trim = src[open..].starts_with("{{-") && src[open + 3..].starts_with(is_space);
        let mut text = &src[pos..open];
        if trim_next {
            text = text.trim_start_matches(is_space);
        }
        if left_trim {
            text = text.trim_end_matches(is_space);
        }
        if !text.is_empty() {
            tokens.push(Token {
                tok: Tok::Text(text.to_owned()),
                at: pos,
                joined: false,
            });
        }
        if open == src.len() {
            break;
        }
        pos = open + if left_trim { 4 } else { 2 };
        // A comment is the whole action.
        let rest = src[pos..].trim_start_matches(is_space);
        if rest.starts_with("/*") {
            let start = src.len() - rest.len();
            let end = src[start..]
                .find("*/")
                .ok_or_else(|| fault(open, "unclosed comment"))?
                + start
                + 2;
            let after = &src[end..];
            let (close, trim) = if after.starts_with("}}") {
                (end + 2, false)
            } else if after.starts_with(" -}}") {
                (end + 4, true)
            } else {
                return Err(fault(end, "comment ends before closing delimiter"));
            };
            pos = close;
            trim_next = trim;
            continue;
        }
        tokens.push(Token {
            tok: Tok::Open,
            at: open,
            joined: false,
        });
        let (next, trim) = lex_action(src, pos, &mut tokens)?;
        pos = next;
        trim_next = trim;
    }
    tokens.push(Token {
        tok: Tok::Eof,
        at: src.len(),
        joined: false,
    });
    Ok(tokens)
}

/// Lexes one action from `pos` to its closing delimiter; returns the offset after it and
/// whether it trims the text that follows.
fn lex_action(src: &str, mut pos: usize, tokens: &mut Vec<Token>) -> Result<(usize, bool), Fault> {
    let mut joined = false;
    loop {
        let rest = &src[pos..];
        let Some(c) = rest.chars().next() else {
            return Err(fault(pos, "unclosed action"));
        };
        if is_space(c) {
            let skipped = rest.len() - rest.trim_start_matches(is_space).len();
            if src[pos + skipped..].starts_with("-}}") {
                tokens.push(Token {
                    tok: Tok::Close,
                    at: pos + skipped,
                    joined: false,
                });
                return Ok((pos + skipped + 3, true));
            }
            pos += skipped;
            joined = false;
            continue;
        }
        if rest.starts_with("}}") {
            tokens.push(Token {
                tok: Tok::Close,
                at: pos,
                joined,
            });
            return Ok((pos + 2, false));
        }
        let start = pos;
        let word_len = |from: usize| {
            src[from..]
                .find(|c: char| !is_word(c))
                .unwrap_or(src.len() - from)
        };
        let tok = match c {
            '|' | '(' | ')' | ',' | '=' => {
                pos += 1;
                match c {
                    '|' => Tok::Pipe,
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    ',' => Tok::Comma,
                    _ => Tok::Assign,
                }
            }
            ':' if rest.starts_with(":=") => {
                pos += 2;
                Tok::Declare
            }
            '"' => {
                let (text, len) =
                    quoted(rest).ok_or_else(|| fault(pos, "unterminated quoted string"))?;
                pos += len;
                Tok::Str(text)
            }
            '`' => {
                let end = rest[1..]
                    .find('`')
                    .ok_or_else(|| fault(pos, "unterminated raw quoted string"))?;
                pos += end + 2;
                Tok::Str(rest[1..=end].to_owned())
            }
            '\'' => {
                let mut chars = rest[1..].chars();
                let ch = chars.next().filter(|c| *c != '\\' && *c != '\'');
                match (ch, chars.next()) {
                    (Some(ch), Some('\'')) => {
                        pos += 2 + ch.len_utf8();
                        Tok::Int(i64::from(u32::from(ch)))
                    }
                    _ => {
                        return Err(fault(
                            pos,
                            "character constants other than a plain character are not supported",
                        ));
                    }
                }
            }
            '$' => {
                let len = word_len(pos + 1);
                pos += 1 + len;
                Tok::Var(src[start..pos].to_owned())
            }
            '.' if rest[1..].starts_with(|c: char| c.is_ascii_digit()) => {
                let (tok, len) = number(rest).ok_or_else(|| fault(pos, "bad number syntax"))?;
                pos += len;
                tok
            }
            '.' => {
                let len = word_len(pos + 1);
                pos += 1 + len;
                if len == 0 {
                    Tok::Dot
                } else {
                    Tok::Field(src[start + 1..pos].to_owned())
                }
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+')
                    && rest[1..].starts_with(|c: char| c.is_ascii_digit())) =>
            {
                let (tok, len) = number(rest).ok_or_else(|| fault(pos, "bad number syntax"))?;
                pos += len;
                tok
            }
            c if is_word(c) => {
                let len = word_len(pos);
                pos += len;
                Tok::Ident(src[start..pos].to_owned())
            }
            other => return Err(fault(pos, format!("unexpected {other:?} in action"))),
        };
        tokens.push(Token {
            tok,
            at: start,
            joined,
        });
        joined = true;
    }
}

/// A Go interpreted string literal at the start of `text`: its value and its length.
fn quoted(text: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = text.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\n' => return None,
            '\\' => {
                let (_, e) = chars.next()?;
                let hex = |chars: &mut std::iter::Skip<std::str::CharIndices>, n: usize| {
                    let digits: String = (0..n)
                        .filter_map(|_| chars.next().map(|(_, c)| c))
                        .collect();
                    u32::from_str_radix(&digits, 16)
                        .ok()
                        .filter(|_| digits.len() == n)
                };
                let ch = match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'v' => '\u{b}',
                    '\\' => '\\',
                    '"' => '"',
                    '\'' => '\'',
                    'x' => char::from_u32(hex(&mut chars, 2)?)?,
                    'u' => char::from_u32(hex(&mut chars, 4)?)?,
                    'U' => char::from_u32(hex(&mut chars, 8)?)?,
                    d @ '0'..='7' => {
                        let rest: String = (0..2)
                            .filter_map(|_| chars.next().map(|(_, c)| c))
                            .collect();
                        char::from_u32(u32::from_str_radix(&format!("{d}{rest}"), 8).ok()?)?
                    }
                    _ => return None,
                };
                out.push(ch);
            }
            c => out.push(c),
        }
    }
    None
}

/// A Go number constant at the start of `text`: an int when it is one, else a float.
fn number(text: &str) -> Option<(Tok, usize)> {
    let len = text
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_alphanumeric()
                || c == '.'
                || c == '_'
                || ((c == '-' || c == '+')
                    && (i == 0 || text[..i].ends_with(['e', 'E', 'p', 'P']))))
        })
        .map_or(text.len(), |(i, _)| i);
    let literal = text[..len].replace('_', "");
    let (sign, digits) = match literal.strip_prefix('-') {
        Some(d) => (-1, d),
        None => (1, literal.strip_prefix('+').unwrap_or(&literal)),
    };
    let radix = [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ]
    .into_iter()
    .find_map(|(p, r)| digits.strip_prefix(p).map(|d| (d, r)));
    let int = match radix {
        Some((d, r)) => i64::from_str_radix(d, r).ok(),
        None if digits.len() > 1
            && digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            i64::from_str_radix(digits, 8).ok()
        }
        None => digits.parse::<i64>().ok(),
    };
    if let Some(i) = int {
        return Some((Tok::Int(sign * i), len));
    }
    let f: f64 = digits.parse().ok()?;
    Some((Tok::Float(if sign < 0 { -f } else { f }), len))
}

/// A parsed template: its main body and the templates it defines.
pub struct Parsed {
    pub main: Vec<Node>,
    pub defined: BTreeMap<String, Vec<Node>>,
}

/// What ended a list of nodes.
enum Ended {
    /// The end of the text.
    Text,
    /// `{{end}}`, at this offset.
    End(usize),
    /// `{{else`, at this offset (the rest of the action is still to be read).
    Else(usize),
}

/// The main body and the templates defined in `src`.
pub fn parse(src: &str) -> Result<Parsed, Fault> {
    let mut parser = Parser {
        tokens: lex(src)?,
        pos: 0,
        defined: BTreeMap::new(),
        vars: vec![vec!["$".to_owned()]],
        ranges: 0,
    };
    let (main, end) = parser.list(true)?;
    match end {
        Ended::Text => Ok(Parsed {
            main,
            defined: parser.defined,
        }),
        Ended::End(at) => Err(fault(at, "unexpected {{end}}")),
        Ended::Else(at) => Err(fault(at, "unexpected {{else}}")),
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    defined: BTreeMap<String, Vec<Node>>,
    /// Variables in scope, one frame per nested body.
    vars: Vec<Vec<String>>,
    /// How many range bodies enclose the current node.
    ranges: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        self.pos += 1;
        token
    }

    fn expect_close(&mut self, what: &str) -> Result<(), Fault> {
        let token = self.next();
        match token.tok {
            Tok::Close => Ok(()),
            _ => Err(fault(
                token.at,
                format!("unexpected token in {what}; expected }}}}"),
            )),
        }
    }

    /// Nodes up to `{{end}}`/`{{else}}`, or the end of the text (`top`).
    fn list(&mut self, top: bool) -> Result<(Vec<Node>, Ended), Fault> {
        let mut nodes = Vec::new();
        loop {
            let token = self.next();
            match token.tok {
                Tok::Eof if top => return Ok((nodes, Ended::Text)),
                Tok::Eof => return Err(fault(token.at, "unexpected EOF")),
                Tok::Text(text) => nodes.push(Node::Text(text)),
                Tok::Open => {
                    let keyword = match &self.peek().tok {
                        Tok::Ident(word) => word.clone(),
                        _ => String::new(),
                    };
                    let at = self.peek().at;
                    match keyword.as_str() {
                        "end" => {
                            self.pos += 1;
                            self.expect_close("end")?;
                            return Ok((nodes, Ended::End(at)));
                        }
                        "else" => {
                            self.pos += 1;
                            return Ok((nodes, Ended::Else(at)));
                        }
                        "if" | "with" | "range" => {
                            self.pos += 1;
                            let kind = match keyword.as_str() {
                                "if" => Branch::If,
                                "with" => Branch::With,
                                _ => Branch::Range,
                            };
                            nodes.push(self.branch(kind, at)?);
                        }
                        "break" | "continue" => {
                            self.pos += 1;
                            if self.ranges == 0 {
                                return Err(fault(
                                    at,
                                    format!("{{{{{keyword}}}}} outside {{{{range}}}}"),
                                ));
                            }
                            self.expect_close(&keyword)?;
                            nodes.push(Node::Loop {
                                stop: keyword == "break",
                            });
                        }
                        "define" | "block" => {
                            self.pos += 1;
                            let name = self.template_name(&keyword)?;
                            let pipe = match keyword.as_str() {
                                "block" => Some(self.pipeline("block", false)?),
                                _ => {
                                    self.expect_close("define")?;
                                    None
                                }
                            };
                            self.vars.push(vec!["$".to_owned()]);
                            let (body, end) = self.list(false)?;
                            self.vars.pop();
                            if !matches!(end, Ended::End(_)) {
                                return Err(fault(
                                    at,
                                    format!("unexpected {{{{else}}}} in {keyword}"),
                                ));
                            }
                            self.defined.insert(name.clone(), body);
                            if let Some(pipe) = pipe {
                                nodes.push(Node::Call {
                                    at,
                                    name,
                                    pipe: Some(pipe),
                                });
                            }
                        }
                        "template" => {
                            self.pos += 1;
                            let name = self.template_name("template")?;
                            let pipe = match self.peek().tok {
                                Tok::Close => {
                                    self.pos += 1;
                                    None
                                }
                                _ => Some(self.pipeline("template", false)?),
                            };
                            nodes.push(Node::Call { at, name, pipe });
                        }
                        _ => nodes.push(Node::Action(self.pipeline("command", true)?)),
                    }
                }
                _ => return Err(fault(token.at, "unexpected token")),
            }
        }
    }

    fn template_name(&mut self, what: &str) -> Result<String, Fault> {
        let token = self.next();
        match token.tok {
            Tok::Str(name) => Ok(name),
            _ => Err(fault(
                token.at,
                format!("unexpected token in {what} clause; expected a quoted name"),
            )),
        }
    }

    /// `if`/`with`/`range` after its keyword, through its `{{end}}`.
    fn branch(&mut self, kind: Branch, at: usize) -> Result<Node, Fault> {
        let what = match kind {
            Branch::If => "if",
            Branch::With => "with",
            Branch::Range => "range",
        };
        self.vars.push(Vec::new());
        let pipe = self.pipeline(what, kind == Branch::Range)?;
        let in_range = usize::from(kind == Branch::Range);
        self.ranges += in_range;
        let listed = self.list(false);
        self.ranges -= in_range;
        let (body, end) = listed?;
        self.vars.pop();
        let otherwise = match end {
            Ended::Else(_) => {
                // `{{else if …}}` and `{{else with …}}` chain a branch that ends at our end.
                let chained = match &self.peek().tok {
                    Tok::Ident(w) if (w == "if" || w == "with") && kind != Branch::Range => {
                        Some(w.clone())
                    }
                    _ => None,
                };
                match chained {
                    Some(word) => {
                        let at = self.next().at;
                        let kind = if word == "if" {
                            Branch::If
                        } else {
                            Branch::With
                        };
                        vec![self.branch(kind, at)?]
                    }
                    None => {
                        self.expect_close("else")?;
                        self.vars.push(Vec::new());
                        let (otherwise, end) = self.list(false)?;
                        self.vars.pop();
                        if !matches!(end, Ended::End(_)) {
                            return Err(fault(
                                at,
                                format!("expected end; found {{{{else}}}} in {what}"),
                            ));
                        }
                        otherwise
                    }
                }
            }
            _ => Vec::new(),
        };
        Ok(Node::Branch {
            kind,
            pipe,
            body,
            otherwise,
        })
    }

    /// A pipeline up to the closing delimiter (or `)` when `!top`-level parens call it).
    fn pipeline(&mut self, what: &str, may_declare: bool) -> Result<Pipe, Fault> {
        let at = self.peek().at;
        let mut pipe = Pipe {
            at,
            vars: Vec::new(),
            assign: false,
            commands: Vec::new(),
        };
        // Declarations: `$x :=`, `$x =`, `$i, $v :=` (the two-variable form in range).
        let save = self.pos;
        let mut vars = Vec::new();
        while let Tok::Var(name) = self.peek().tok.clone() {
            self.pos += 1;
            vars.push(name);
            match self.peek().tok {
                Tok::Comma if may_declare && vars.len() == 1 => self.pos += 1,
                _ => break,
            }
        }
        match self.peek().tok {
            Tok::Declare | Tok::Assign if !vars.is_empty() => {
                pipe.assign = self.next().tok == Tok::Assign;
                if pipe.assign {
                    for name in &vars {
                        if !self.known(name) {
                            return Err(fault(at, format!("undefined variable \"{name}\"")));
                        }
                    }
                } else {
                    if let Some(frame) = self.vars.last_mut() {
                        frame.extend(vars.iter().cloned());
                    }
                }
                pipe.vars = vars;
            }
            _ => self.pos = save,
        }
        loop {
            let token = self.peek().clone();
            match token.tok {
                Tok::Close => {
                    self.pos += 1;
                    break;
                }
                Tok::RParen => break,
                _ => {}
            }
            let command = self.command()?;
            pipe.commands.push(command);
            match self.peek().tok {
                Tok::Pipe => self.pos += 1,
                Tok::Close | Tok::RParen => {}
                _ => return Err(fault(self.peek().at, format!("unexpected token in {what}"))),
            }
        }
        if pipe.commands.is_empty() {
            return Err(fault(at, format!("missing value for {what}")));
        }
        Ok(pipe)
    }

    fn known(&self, name: &str) -> bool {
        self.vars
            .iter()
            .any(|frame| frame.iter().any(|v| v == name))
    }

    fn command(&mut self) -> Result<Command, Fault> {
        let at = self.peek().at;
        let mut args = Vec::new();
        loop {
            match self.peek().tok {
                Tok::Close | Tok::RParen | Tok::Pipe => break,
                _ => args.push(self.operand()?),
            }
        }
        if args.is_empty() {
            return Err(fault(at, "empty command"));
        }
        Ok(Command { at, args })
    }

    /// A term and the fields chained onto it.
    fn operand(&mut self) -> Result<Arg, Fault> {
        let token = self.next();
        let arg = match token.tok {
            Tok::Dot => Arg::Dot,
            Tok::Field(name) => Arg::Field(vec![name]),
            Tok::Var(name) => {
                if !self.known(&name) {
                    return Err(fault(token.at, format!("undefined variable \"{name}\"")));
                }
                Arg::Var(name, Vec::new())
            }
            Tok::Str(s) => Arg::Str(s),
            Tok::Int(i) => Arg::Int(i),
            Tok::Float(f) => Arg::Float(f),
            Tok::Ident(word) => match word.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                name if funcs::exists(name) => Arg::Func(word),
                name => {
                    return Err(fault(
                        token.at,
                        format!(
                            "function \"{name}\" not defined (Lockstep implements the functions listed in docs/external-secrets.md)"
                        ),
                    ));
                }
            },
            Tok::LParen => {
                let pipe = self.pipeline("parenthesized pipeline", false)?;
                let close = self.next();
                if close.tok != Tok::RParen {
                    return Err(fault(close.at, "unclosed left paren"));
                }
                Arg::Pipe(Box::new(pipe), Vec::new())
            }
            _ => return Err(fault(token.at, "unexpected token in operand")),
        };
        // Fields chained without a space: `.a.b`, `$x.a`, `(…).a`.
        let mut arg = arg;
        while let Tok::Field(name) = &self.peek().tok {
            if !self.peek().joined {
                break;
            }
            let name = name.clone();
            let at = self.peek().at;
            self.pos += 1;
            match &mut arg {
                Arg::Field(path) | Arg::Var(_, path) | Arg::Pipe(_, path) => path.push(name),
                _ => return Err(fault(at, "unexpected . after term")),
            }
        }
        Ok(arg)
    }
}
