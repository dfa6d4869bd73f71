//! Executing a parsed template, as Go's `text/template` does with `missingkey=error`.

use zeroize::Zeroizing;

use super::parse::{Arg, Branch, Command, Node, Pipe};
use super::value::Value;
use super::{Fault, MissingKey, Template, fault, funcs};

/// How deep `{{template}}` calls may nest: far below Go's 100,000, since each level is a
/// native stack frame here, and far above what a Secret's template needs.
const MAX_DEPTH: usize = 100;

/// The most output one template may write: a whole Secret is at most 1 MiB.
const MAX_OUTPUT: usize = 1 << 20;

/// The most nodes one template may run, so that a loop over a huge range ends.
const MAX_STEPS: usize = 1_000_000;

/// What a body asks of the range around it.
enum Flow {
    Next,
    Break,
    Continue,
}

struct State<'t> {
    template: &'t Template,
    vars: Vec<(String, Value)>,
    out: Zeroizing<String>,
    depth: usize,
    steps: usize,
    missing: MissingKey,
}

pub(super) fn execute(
    template: &Template,
    data: Value,
    missing: MissingKey,
) -> Result<Zeroizing<String>, Fault> {
    let mut state = State {
        template,
        vars: vec![("$".to_owned(), data.clone())],
        out: Zeroizing::new(String::new()),
        depth: 0,
        steps: 0,
        missing,
    };
    // The parser allows break and continue only inside a range, which absorbs them.
    state.walk(&template.main, &data)?;
    Ok(std::mem::take(&mut state.out))
}

impl State<'_> {
    fn walk(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, Fault> {
        for node in nodes {
            self.step()?;
            match node {
                Node::Text(text) => self.out.push_str(text),
                Node::Action(pipe) => {
                    let value = self.pipeline(pipe, dot)?;
                    if pipe.vars.is_empty() {
                        match value {
                            Value::Nil => self.out.push_str("<no value>"),
                            value => value.write(&mut self.out),
                        }
                    }
                }
                Node::Branch {
                    kind,
                    pipe,
                    body,
                    otherwise,
                } => {
                    let mark = self.vars.len();
                    let flow = self.branch(*kind, pipe, body, otherwise, dot);
                    self.vars.truncate(mark);
                    match flow? {
                        Flow::Next => {}
                        other => return Ok(other),
                    }
                }
                Node::Loop { stop, .. } => {
                    return Ok(if *stop { Flow::Break } else { Flow::Continue });
                }
                Node::Call { at, name, pipe } => {
                    let body = self
                        .template
                        .defined
                        .get(name)
                        .ok_or_else(|| fault(*at, format!("no such template \"{name}\"")))?;
                    let dot = match pipe {
                        Some(pipe) => self.pipeline(pipe, dot)?,
                        None => Value::Nil,
                    };
                    if self.depth >= MAX_DEPTH {
                        return Err(fault(*at, "exceeded maximum template depth"));
                    }
                    let vars =
                        std::mem::replace(&mut self.vars, vec![("$".to_owned(), dot.clone())]);
                    self.depth += 1;
                    let flow = self.walk(body, &dot);
                    self.depth -= 1;
                    self.vars = vars;
                    flow?;
                }
            }
            if self.out.len() > MAX_OUTPUT {
                return Err(fault(
                    0,
                    "the output is larger than a Secret may be (1 MiB)",
                ));
            }
        }
        Ok(Flow::Next)
    }

    fn step(&mut self) -> Result<(), Fault> {
        self.steps += 1;
        match self.steps > MAX_STEPS {
            true => Err(fault(0, "the template ran more than a million steps")),
            false => Ok(()),
        }
    }

    fn branch(
        &mut self,
        kind: Branch,
        pipe: &Pipe,
        body: &[Node],
        otherwise: &[Node],
        dot: &Value,
    ) -> Result<Flow, Fault> {
        if kind != Branch::Range {
            let value = self.pipeline(pipe, dot)?;
            return match (value.truth(), kind) {
                (true, Branch::With) => self.walk(body, &value),
                (true, _) => self.walk(body, dot),
                (false, _) => self.walk(otherwise, dot),
            };
        }
        let value = self.pipeline_value(pipe, dot)?;
        let items: Vec<(Value, Value)> = match &value {
            Value::List(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i64::try_from(i).unwrap_or(i64::MAX)), v.clone()))
                .collect(),
            Value::Map(map) => map
                .borrow()
                .entries
                .iter()
                .map(|(k, v)| (Value::str(k.clone()), v.clone()))
                .collect(),
            Value::Int(n) => {
                if *n <= 0 {
                    return self.walk(otherwise, dot);
                }
                for i in 0..*n {
                    if self.iteration(pipe, body, Value::Int(i), Value::Int(i))? {
                        break;
                    }
                }
                return Ok(Flow::Next);
            }
            Value::Nil => Vec::new(),
            other => {
                return Err(fault(
                    pipe.at,
                    format!("range can't iterate over {}", other.kind()),
                ));
            }
        };
        if items.is_empty() {
            return self.walk(otherwise, dot);
        }
        for (key, item) in items {
            if self.iteration(pipe, body, key, item)? {
                break;
            }
        }
        Ok(Flow::Next)
    }

    /// One item of a range, with its variables bound; whether it broke out.
    fn iteration(
        &mut self,
        pipe: &Pipe,
        body: &[Node],
        key: Value,
        item: Value,
    ) -> Result<bool, Fault> {
        self.step()?;
        let mark = self.vars.len();
        match pipe.vars.as_slice() {
            [one] => self.vars.push((one.clone(), item.clone())),
            [k, v] => {
                self.vars.push((k.clone(), key));
                self.vars.push((v.clone(), item.clone()));
            }
            _ => {}
        }
        let flow = self.walk(body, &item);
        self.vars.truncate(mark);
        Ok(matches!(flow?, Flow::Break))
    }

    /// A pipeline's value, declaring or assigning its variables.
    fn pipeline(&mut self, pipe: &Pipe, dot: &Value) -> Result<Value, Fault> {
        let value = self.pipeline_value(pipe, dot)?;
        for name in &pipe.vars {
            if pipe.assign {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = value.clone();
                }
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    /// A pipeline's value without touching its variables (`range` binds them per item).
    fn pipeline_value(&mut self, pipe: &Pipe, dot: &Value) -> Result<Value, Fault> {
        let mut value = None;
        for command in &pipe.commands {
            value = Some(self.command(command, dot, value)?);
        }
        Ok(value.unwrap_or(Value::Nil))
    }

    fn command(
        &mut self,
        command: &Command,
        dot: &Value,
        piped: Option<Value>,
    ) -> Result<Value, Fault> {
        let (first, rest) = command
            .args
            .split_first()
            .ok_or_else(|| fault(command.at, "empty command"))?;
        let Arg::Func(name) = first else {
            if matches!(first, Arg::Nil) {
                return Err(fault(command.at, "nil is not a command"));
            }
            if !rest.is_empty() || piped.is_some() {
                return Err(fault(command.at, "can't give argument to non-function"));
            }
            return self.operand(first, command.at, dot);
        };
        // `and` and `or` stop at the first argument that decides them.
        if name == "and" || name == "or" {
            if rest.is_empty() && piped.is_none() {
                return Err(fault(
                    command.at,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            let mut last = Value::Nil;
            for arg in rest {
                last = self.operand(arg, command.at, dot)?;
                if last.truth() != (name == "and") {
                    return Ok(last);
                }
            }
            return Ok(piped.unwrap_or(last));
        }
        let mut args = Vec::with_capacity(rest.len() + 1);
        for arg in rest {
            args.push(self.operand(arg, command.at, dot)?);
        }
        args.extend(piped);
        funcs::call(name, args)
            .map_err(|reason| fault(command.at, format!("error calling {name}: {reason}")))
    }

    fn operand(&mut self, arg: &Arg, at: usize, dot: &Value) -> Result<Value, Fault> {
        let (base, path) = match arg {
            Arg::Dot => return Ok(dot.clone()),
            Arg::Field(path) => (dot.clone(), path),
            Arg::Var(name, path) => {
                let value = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| fault(at, format!("undefined variable: {name}")))?;
                (value, path)
            }
            Arg::Pipe(pipe, path) => (self.pipeline_value(pipe, dot)?, path),
            Arg::Func(name) => {
                return funcs::call(name, Vec::new())
                    .map_err(|reason| fault(at, format!("error calling {name}: {reason}")));
            }
            Arg::Str(s) => return Ok(Value::str(s.clone())),
            Arg::Int(i) => return Ok(Value::Int(*i)),
            Arg::Float(f) => return Ok(Value::Float(*f)),
            Arg::Bool(b) => return Ok(Value::Bool(*b)),
            Arg::Nil => return Ok(Value::Nil),
        };
        let mut value = base;
        for name in path {
            value = field(&value, name, self.missing).map_err(|reason| fault(at, reason))?;
        }
        Ok(value)
    }
}

/// `.name` of a value: a map's entry, and when it has none, what `missing` says.
fn field(value: &Value, name: &str, missing: MissingKey) -> Result<Value, String> {
    match value {
        Value::Map(map) => match (map.borrow().entries.get(name), missing) {
            (Some(value), _) => Ok(value.clone()),
            (None, MissingKey::NoValue) => Ok(Value::Nil),
            (None, MissingKey::Error) => Err(format!("map has no entry for key \"{name}\"")),
        },
        Value::Nil => Err(format!("nil pointer evaluating interface {{}}.{name}")),
        other => Err(format!(
            "can't evaluate field {name} in type {}",
            other.kind()
        )),
    }
}
