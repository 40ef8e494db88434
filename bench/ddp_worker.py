"""One `make bench` training measurement under torchrun: `--workers` data-parallel
processes train `--steps` steps of the global batch; the first prints pairs/s as JSON."""

from __future__ import annotations

import argparse
import json
import sys
import time

from ranker.config import DistributedParams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    args = parser.parse_args()
    from ranker.model import distributed

    params = DistributedParams(nproc_per_node=args.workers)
    if distributed.needs_launch(params):
        distributed.launch(params, module="bench.ddp_worker", args=sys.argv[1:])
        return
    _worker(args.steps)


def _worker(steps: int) -> None:
    from bench.training import make_trainer
    from ranker.config import PACKAGED_MODEL_ID, EncodeParams, RunParams, TrainParams
    from ranker.data.sample import generate_sample
    from ranker.model.batches import PairDataset, make_collator
    from ranker.model.distributed import current_world, worker_threads
    from ranker.model.encode import encode_frame
    from ranker.model.modeling import load_classifier, set_threads
    from ranker.model.tokenizer import load_tokenizer

    world = current_world()
    run, train = RunParams(), TrainParams()
    threads = set_threads(worker_threads(run.threads, world.local_size))
    tokenizer = load_tokenizer(PACKAGED_MODEL_ID)
    frame = encode_frame(generate_sample(), tokenizer, EncodeParams(), desc="encode").to_pandas()
    # The bench's own Trainer (the train stage's arguments), with the global batch shared.
    trainer = make_trainer(
        load_classifier(PACKAGED_MODEL_ID, run.seed, cls_only=train.cls_only_last_layer),
        PairDataset(frame),
        make_collator(tokenizer, EncodeParams()),
        steps=steps,
        batch=train.batch_size,
        group=True,
        precision=train.precision,
        workers=world.size,
    )
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    if world.rank == 0:
        pairs = steps * train.batch_size
        print(
            json.dumps(
                {
                    "samples_per_s": round(pairs / wall, 2),
                    "wall_s": round(wall, 2),
                    "workers": world.size,
                    "threads_per_worker": threads,
                }
            )
        )


if __name__ == "__main__":
    main()
