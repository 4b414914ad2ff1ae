r"""Builds the word vocabulary of VATT's text tower from training captions.

Reads every `caption/string` of the given SequenceExample records, splits
captions into lowercase words (runs of ASCII letters and digits, see
jvrl/text/tokenizer.py) and writes one token per line: `[PAD]`, `[UNK]`, then
the words by decreasing count (ties alphabetical).

  python data/build_vocab.py --files='/data/howto100m/train-*.tfrecord' \
      --output=/data/howto100m/vocab.txt --min_count=5 --max_size=100000

Then train with `--config.vatt.text.vocab_file=/data/howto100m/vocab.txt`.
The built-in synthetic dataset needs no such step: its vocabulary is built
from its train split on first use and cached beside it.
"""
import os
import sys

from absl import app
from absl import flags

try:
  import jvrl  # noqa: F401
except ImportError:  # Run from a checkout without installing jvrl.
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jvrl.data.tf_setup import tf  # pylint: disable=g-import-not-at-top
from jvrl.text import tokenizer  # pylint: disable=g-import-not-at-top
from jvrl.text import vocab as vocab_lib  # pylint: disable=g-import-not-at-top

_FILES = flags.DEFINE_string("files", None, "Comma-separated globs of training record files.")
_OUTPUT = flags.DEFINE_string("output", None, "Vocabulary file to write.")
_MIN_COUNT = flags.DEFINE_integer("min_count", 1, "Keep words seen at least this often.")
_MAX_SIZE = flags.DEFINE_integer("max_size", 0, "At most this many tokens (0 = no limit).")


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  files = sorted({path for pattern in _FILES.value.split(",") if pattern.strip()
                  for path in tf.io.gfile.glob(pattern.strip())})
  if not files:
    sys.exit(f"build_vocab: --files={_FILES.value!r} matches no file.")
  captions = 0

  def counted(stream):
    nonlocal captions
    for caption in stream:
      captions += 1
      yield caption

  vocab = vocab_lib.build_vocab(counted(vocab_lib.captions_from_records(files)),
                                _MIN_COUNT.value, _MAX_SIZE.value or None)
  tokenizer.write_vocab(_OUTPUT.value, vocab)
  print(f"{_OUTPUT.value}: {len(vocab)} tokens from {captions} captions in {len(files)} "
        f"file(s).")


if __name__ == "__main__":
  flags.mark_flags_as_required(["files", "output"])
  app.run(main)
