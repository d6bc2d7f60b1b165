//! The prediction side of fastText's losses, with its exact arithmetic:
//! - scores are `log(p + 1e-5)` computed in double and stored as float;
//! - softmax: `exp(x - max)` normalised; one-vs-all and negative sampling: the
//!   512-entry sigmoid lookup table of fastText; hierarchical softmax: a depth-first
//!   walk of the Huffman tree built from the label counts with the exact sigmoid,
//!   pruned by `log(threshold + 1e-5)` and by the current k-th best;
//! - the k best are kept in a binary heap that replays libstdc++'s `push_heap` /
//!   `pop_heap` / `sort_heap`, so ties come out in the same order as fastText's.

use super::matrix::Matrix;
use super::reader::LossKind;

const SIGMOID_TABLE_SIZE: usize = 512;
const MAX_SIGMOID: f32 = 8.0;

/// `log(x + 1e-5)` as fastText computes it (double inside, float out).
#[inline]
pub fn std_log(x: f32) -> f32 {
    (x as f64 + 1e-5).ln() as f32
}

/// A prediction: (log-probability score, label index).
pub type Scored = (f32, i32);

// ---- libstdc++ heap algorithms with comparator `a.0 > b.0` (a min-heap on score) ----

#[inline]
fn before(a: &Scored, b: &Scored) -> bool {
    a.0 > b.0
}

fn sift_up(heap: &mut [Scored], mut hole: usize, top: usize, value: Scored) {
    let mut parent = hole.wrapping_sub(1) / 2;
    while hole > top && before(&heap[parent], &value) {
        heap[hole] = heap[parent];
        hole = parent;
        parent = hole.wrapping_sub(1) / 2;
    }
    heap[hole] = value;
}

fn adjust(heap: &mut [Scored], mut hole: usize, len: usize, value: Scored) {
    let top = hole;
    let mut child = hole;
    while len >= 2 && child < (len - 1) / 2 {
        child = 2 * (child + 1);
        if before(&heap[child], &heap[child - 1]) {
            child -= 1;
        }
        heap[hole] = heap[child];
        hole = child;
    }
    if len & 1 == 0 && len >= 2 && child == (len - 2) / 2 {
        child = 2 * (child + 1);
        heap[hole] = heap[child - 1];
        hole = child - 1;
    }
    sift_up(heap, hole, top, value);
}

fn push_heap(heap: &mut [Scored]) {
    let last = heap.len() - 1;
    let value = heap[last];
    sift_up(heap, last, 0, value);
}

/// Move the front to the end of `heap[..len]` and restore the heap on `heap[..len-1]`.
fn pop_heap(heap: &mut [Scored], len: usize) {
    if len > 1 {
        let last = len - 1;
        let value = heap[last];
        heap[last] = heap[0];
        adjust(heap, 0, last, value);
    }
}

fn sort_heap(heap: &mut [Scored]) {
    let mut len = heap.len();
    while len > 1 {
        pop_heap(heap, len);
        len -= 1;
    }
}

/// Offer a candidate to the k-best heap.
#[inline]
fn offer(heap: &mut Vec<Scored>, k: usize, candidate: Scored) {
    heap.push(candidate);
    push_heap(heap);
    if heap.len() > k {
        let len = heap.len();
        pop_heap(heap, len);
        heap.pop();
    }
}

/// The prediction half of a fastText loss.
#[derive(Debug)]
pub enum Loss {
    Softmax,
    /// One-vs-all and negative sampling share the sigmoid output.
    Sigmoid { table: Vec<f32> },
    HierarchicalSoftmax { tree: Vec<Node>, nlabels: usize },
}

/// A node of the hierarchical-softmax tree.
#[derive(Debug, Clone, Copy)]
pub struct Node {
    left: i32,
    right: i32,
}

fn sigmoid_table() -> Vec<f32> {
    (0..=SIGMOID_TABLE_SIZE)
        .map(|i| {
            let x = (i * 2 * MAX_SIGMOID as usize) as f32 / SIGMOID_TABLE_SIZE as f32 - MAX_SIGMOID;
            (1.0 / (1.0 + ((-x).exp()) as f64)) as f32
        })
        .collect()
}

/// Huffman tree over the labels as fastText builds it (labels sorted by
/// decreasing count; internal node `i` has output-matrix row `i - nlabels`).
/// Counts that are not in decreasing order can make the construction pick a node
/// that is not built yet; that is an error (a corrupt file), not a cyclic tree.
fn build_tree(counts: &[i64]) -> crate::Result<Vec<Node>> {
    let osz = counts.len();
    let total = 2 * osz - 1;
    let mut count: Vec<i64> = vec![1_000_000_000_000_000; total];
    count[..osz].copy_from_slice(counts);
    let mut tree = vec![Node { left: -1, right: -1 }; total];
    let mut leaf = osz as i64 - 1;
    let mut node = osz;
    for i in osz..total {
        let mut mini = [0usize; 2];
        for slot in &mut mini {
            if leaf >= 0 && count[leaf as usize] < count[node] {
                *slot = leaf as usize;
                leaf -= 1;
            } else {
                *slot = node;
                node += 1;
            }
            if *slot >= i {
                return Err(super::reader::invalid(
                    "the label counts do not give a valid hierarchical-softmax tree",
                ));
            }
        }
        tree[i] = Node { left: mini[0] as i32, right: mini[1] as i32 };
        count[i] = count[mini[0]].saturating_add(count[mini[1]]);
    }
    Ok(tree)
}

impl Loss {
    pub fn new(kind: LossKind, label_counts: &[i64]) -> crate::Result<Self> {
        Ok(match kind {
            LossKind::Softmax => Loss::Softmax,
            LossKind::OneVsAll | LossKind::NegativeSampling => Loss::Sigmoid { table: sigmoid_table() },
            LossKind::HierarchicalSoftmax => Loss::HierarchicalSoftmax {
                tree: build_tree(label_counts)?,
                nlabels: label_counts.len(),
            },
        })
    }

    /// Output-matrix rows this loss reads (checked against the matrix at load time).
    pub fn output_rows_needed(&self, nlabels: usize) -> usize {
        match self {
            Loss::HierarchicalSoftmax { .. } => nlabels.saturating_sub(1),
            _ => nlabels,
        }
    }

    /// The `k` best labels for `hidden` (best first), with log-probability scores.
    /// `output` is scratch space of one float per label.
    pub fn predict(
        &self,
        wo: &Matrix,
        hidden: &[f32],
        k: usize,
        threshold: f32,
        output: &mut Vec<f32>,
        heap: &mut Vec<Scored>,
    ) {
        heap.clear();
        match self {
            Loss::HierarchicalSoftmax { tree, nlabels } => {
                if *nlabels > 0 {
                    let root = 2 * nlabels - 2;
                    let floor = std_log(threshold);
                    self.dfs(tree, *nlabels, wo, hidden, k, floor, root, heap);
                }
            }
            Loss::Softmax | Loss::Sigmoid { .. } => {
                let osz = wo.rows();
                output.clear();
                output.extend((0..osz).map(|i| wo.dot_row(hidden, i)));
                if let Loss::Sigmoid { table } = self {
                    for x in output.iter_mut() {
                        *x = if *x < -MAX_SIGMOID {
                            0.0
                        } else if *x > MAX_SIGMOID {
                            1.0
                        } else {
                            let i = ((*x + MAX_SIGMOID) * SIGMOID_TABLE_SIZE as f32 / MAX_SIGMOID / 2.0) as i64;
                            table[i as usize]
                        };
                    }
                } else if osz > 0 {
                    let mut max = output[0];
                    for &x in output.iter() {
                        max = if x > max { x } else { max };
                    }
                    let mut z = 0.0f32;
                    for x in output.iter_mut() {
                        *x = ((*x - max) as f64).exp() as f32;
                        z += *x;
                    }
                    for x in output.iter_mut() {
                        *x /= z;
                    }
                }
                for (i, &p) in output.iter().enumerate() {
                    if p < threshold {
                        continue;
                    }
                    let score = std_log(p);
                    if heap.len() == k && score < heap[0].0 {
                        continue;
                    }
                    offer(heap, k, (score, i as i32));
                }
            }
        }
        sort_heap(heap);
    }

    /// fastText's recursive depth-first walk, run with an explicit stack (a deep tree
    /// cannot overflow the thread's stack); children are visited left then right, each
    /// after the other's whole subtree, exactly as the recursion does.
    #[allow(clippy::too_many_arguments)]
    fn dfs(
        &self,
        tree: &[Node],
        nlabels: usize,
        wo: &Matrix,
        hidden: &[f32],
        k: usize,
        floor: f32,
        root: usize,
        heap: &mut Vec<Scored>,
    ) {
        let mut stack: Vec<(usize, f32)> = vec![(root, 0.0)];
        while let Some((node, score)) = stack.pop() {
            if score < floor {
                continue;
            }
            if heap.len() == k && score < heap[0].0 {
                continue;
            }
            let Node { left, right } = tree[node];
            if left == -1 && right == -1 {
                offer(heap, k, (score, node as i32));
                continue;
            }
            let f = wo.dot_row(hidden, node - nlabels);
            let f = (1.0f64 / (1.0f32 + (-f).exp()) as f64) as f32;
            let left_score = score + std_log((1.0f64 - f as f64) as f32);
            stack.push((right as usize, score + std_log(f)));
            stack.push((left as usize, left_score));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_keeps_the_k_best_in_order() {
        let mut heap = Vec::new();
        for (i, s) in [0.1f32, 0.5, 0.3, 0.9, 0.2].iter().enumerate() {
            offer(&mut heap, 3, (*s, i as i32));
        }
        sort_heap(&mut heap);
        assert_eq!(heap, vec![(0.9, 3), (0.5, 1), (0.3, 2)]);
    }

    #[test]
    fn tree_of_three_labels() {
        // Counts 5, 3, 1: the two rarest merge first.
        let tree = build_tree(&[5, 3, 1]).unwrap();
        assert_eq!((tree[3].left, tree[3].right), (2, 1));
        assert_eq!((tree[4].left, tree[4].right), (3, 0));
    }

    #[test]
    fn corrupt_counts_are_an_error() {
        assert!(build_tree(&[1, 2_000_000_000_000_000]).is_err());
    }

    #[test]
    fn sigmoid_table_is_centred() {
        let t = sigmoid_table();
        assert_eq!(t.len(), 513);
        assert!((t[256] - 0.5).abs() < 1e-7);
    }
}
