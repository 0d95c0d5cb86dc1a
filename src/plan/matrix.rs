//! Matrix expansion: the cartesian product of the axes (a zip group counting as one axis whose
//! values are tuples), minus `exclude`, then `include` with the semantics of a GitHub Actions
//! matrix. Works on checked values only; spans and messages belong to the validation pass.

use std::collections::BTreeMap;

use super::value::ParamValue;

/// One combination of parameter values.
pub type Combo = BTreeMap<String, ParamValue>;

/// One `key = value` list of an include or exclude entry.
pub type Entry = Vec<(String, ParamValue)>;

/// An axis of the product.
#[derive(Debug, Clone)]
pub enum Axis {
    /// One parameter and its values.
    Single {
        name: String,
        values: Vec<ParamValue>,
    },
    /// Parameters that vary together: `rows[i]` holds the i-th value of every name.
    Zip {
        names: Vec<String>,
        rows: Vec<Vec<ParamValue>>,
    },
}

impl Axis {
    pub fn len(&self) -> usize {
        match self {
            Axis::Single { values, .. } => values.len(),
            Axis::Zip { rows, .. } => rows.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn names(&self) -> Vec<&str> {
        match self {
            Axis::Single { name, .. } => vec![name.as_str()],
            Axis::Zip { names, .. } => names.iter().map(String::as_str).collect(),
        }
    }
}

/// A checked matrix.
#[derive(Debug, Clone, Default)]
pub struct Matrix {
    pub axes: Vec<Axis>,
    pub exclude: Vec<Entry>,
    pub include: Vec<Entry>,
}

/// What an include entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeEffect {
    /// It extended this many combinations of the product.
    Extended(usize),
    /// It matched none, so it was added as a combination of its own.
    Added,
}

/// The expanded matrix, with an account of what each entry did (for `explain` and warnings).
#[derive(Debug, Clone)]
pub struct Expansion {
    pub combos: Vec<Combo>,
    /// How many combinations each exclude entry removed.
    pub excluded: Vec<usize>,
    pub included: Vec<IncludeEffect>,
}

impl Matrix {
    /// Number of combinations of the product, before exclude and include; saturates, so that a
    /// matrix too large to expand is refused by its size rather than by running out of memory.
    pub fn product_size(&self) -> u64 {
        self.axes
            .iter()
            .fold(1u64, |acc, a| acc.saturating_mul(a.len() as u64))
    }

    /// Every axis name, zipped ones included.
    pub fn axis_names(&self) -> Vec<&str> {
        self.axes.iter().flat_map(Axis::names).collect()
    }

    pub fn expand(&self) -> Expansion {
        let mut combos = vec![Combo::new()];
        for axis in &self.axes {
            let mut next = Vec::with_capacity(combos.len() * axis.len());
            for combo in &combos {
                match axis {
                    Axis::Single { name, values } => {
                        for v in values {
                            let mut c = combo.clone();
                            c.insert(name.clone(), v.clone());
                            next.push(c);
                        }
                    }
                    Axis::Zip { names, rows } => {
                        for row in rows {
                            let mut c = combo.clone();
                            for (n, v) in names.iter().zip(row) {
                                c.insert(n.clone(), v.clone());
                            }
                            next.push(c);
                        }
                    }
                }
            }
            combos = next;
        }
        if self.axes.is_empty() && !self.include.is_empty() {
            // A matrix made only of includes: the empty product has nothing to extend.
            combos.clear();
        }

        let excluded = self
            .exclude
            .iter()
            .map(|entry| {
                let before = combos.len();
                combos.retain(|c| !matches_all(c, entry));
                before - combos.len()
            })
            .collect();

        let axis_names = self.axis_names();
        let original = combos.len();
        let included = self
            .include
            .iter()
            .map(|entry| {
                let mut extended = 0;
                for combo in combos.iter_mut().take(original) {
                    // An entry extends a combination when none of its values would overwrite
                    // one of the product's own; values added by earlier includes may change.
                    let compatible = entry
                        .iter()
                        .filter(|(k, _)| axis_names.contains(&k.as_str()))
                        .all(|(k, v)| combo.get(k) == Some(v));
                    if compatible {
                        for (k, v) in entry {
                            if !axis_names.contains(&k.as_str()) {
                                combo.insert(k.clone(), v.clone());
                            }
                        }
                        extended += 1;
                    }
                }
                if extended == 0 {
                    combos.push(entry.iter().cloned().collect());
                    IncludeEffect::Added
                } else {
                    IncludeEffect::Extended(extended)
                }
            })
            .collect();

        Expansion {
            combos,
            excluded,
            included,
        }
    }
}

fn matches_all(combo: &Combo, entry: &Entry) -> bool {
    entry.iter().all(|(k, v)| combo.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> ParamValue {
        ParamValue::Str(v.into())
    }

    fn single(name: &str, values: &[&str]) -> Axis {
        Axis::Single {
            name: name.into(),
            values: values.iter().map(|v| s(v)).collect(),
        }
    }

    fn entry(pairs: &[(&str, &str)]) -> Entry {
        pairs.iter().map(|(k, v)| (k.to_string(), s(v))).collect()
    }

    fn show(combos: &[Combo]) -> Vec<String> {
        combos
            .iter()
            .map(|c| {
                c.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect()
    }

    #[test]
    fn product_puts_the_first_axis_outermost() {
        let m = Matrix {
            axes: vec![single("a", &["1", "2"]), single("b", &["x", "y"])],
            ..Matrix::default()
        };
        assert_eq!(m.product_size(), 4);
        assert_eq!(
            show(&m.expand().combos),
            ["a=1,b=x", "a=1,b=y", "a=2,b=x", "a=2,b=y"]
        );
    }

    /// The worked example of GitHub's documentation ("Expanding or adding matrix
    /// configurations"), reproduced exactly.
    #[test]
    fn include_follows_github_actions() {
        let m = Matrix {
            axes: vec![
                single("fruit", &["apple", "pear"]),
                single("animal", &["cat", "dog"]),
            ],
            exclude: vec![],
            include: vec![
                entry(&[("color", "green")]),
                entry(&[("color", "pink"), ("animal", "cat")]),
                entry(&[("fruit", "apple"), ("shape", "circle")]),
                entry(&[("fruit", "banana")]),
                entry(&[("fruit", "banana"), ("animal", "cat")]),
            ],
        };
        let e = m.expand();
        assert_eq!(
            show(&e.combos),
            [
                "animal=cat,color=pink,fruit=apple,shape=circle",
                "animal=dog,color=green,fruit=apple,shape=circle",
                "animal=cat,color=pink,fruit=pear",
                "animal=dog,color=green,fruit=pear",
                "fruit=banana",
                "animal=cat,fruit=banana",
            ]
        );
        assert_eq!(
            e.included,
            [
                IncludeEffect::Extended(4),
                IncludeEffect::Extended(2),
                IncludeEffect::Extended(2),
                IncludeEffect::Added,
                IncludeEffect::Added,
            ]
        );
    }

    #[test]
    fn exclude_removes_every_matching_combination_before_include() {
        let m = Matrix {
            axes: vec![
                single("os", &["mac", "linux"]),
                single("v", &["1", "2", "3"]),
            ],
            exclude: vec![entry(&[("os", "mac"), ("v", "1")]), entry(&[("v", "3")])],
            include: vec![entry(&[("os", "mac"), ("v", "1")])],
        };
        let e = m.expand();
        assert_eq!(e.excluded, [1, 2]);
        // The include cannot extend a removed combination, so it adds it back on its own.
        assert_eq!(e.included, [IncludeEffect::Added]);
        assert_eq!(
            show(&e.combos),
            ["os=mac,v=2", "os=linux,v=1", "os=linux,v=2", "os=mac,v=1"]
        );
    }

    #[test]
    fn zip_groups_vary_together() {
        let m = Matrix {
            axes: vec![
                Axis::Zip {
                    names: vec!["n".into(), "iterations".into()],
                    rows: vec![
                        vec![ParamValue::Int(1000), ParamValue::Int(50)],
                        vec![ParamValue::Int(5000), ParamValue::Int(5)],
                    ],
                },
                single("dtype", &["f32", "bf16"]),
            ],
            ..Matrix::default()
        };
        assert_eq!(m.product_size(), 4);
        assert_eq!(
            show(&m.expand().combos),
            [
                "dtype=f32,iterations=50,n=1000",
                "dtype=bf16,iterations=50,n=1000",
                "dtype=f32,iterations=5,n=5000",
                "dtype=bf16,iterations=5,n=5000",
            ]
        );
    }

    #[test]
    fn product_size_saturates_instead_of_overflowing() {
        let big = Axis::Single {
            name: "n".into(),
            values: (0..100_000).map(ParamValue::Int).collect(),
        };
        let m = Matrix {
            axes: vec![big.clone(), big.clone(), big.clone(), big.clone(), big],
            ..Matrix::default()
        };
        assert_eq!(m.product_size(), u64::MAX);
    }
}
