"""Tiny random models of every encoder family the pipeline supports, built in seconds.

Each has the family's own config class and tokenizer class, with a vocabulary trained here
by the `tokenizers` library on the model's kind of subword (WordPiece for BERT, DistilBERT
and ELECTRA; byte-level BPE for RoBERTa and ModernBERT; Unigram for XLM-R and DeBERTa-v2),
so special tokens, their ids and the pair template are each family's, not BERT's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

# Latin, German with umlauts, Chinese and Arabic: a multilingual vocabulary must cover them.
MULTILINGUAL = [
    "Übertragung des Coronavirus in Gemeinschaftsunterkünften für Flüchtlinge",
    "Maßnahmen gegen die Ausbreitung: Schulschließungen und Mundschutz",
    "新型冠状病毒的传播途径与潜伏期研究",
    "口罩对呼吸道病毒传播的影响",
    "انتقال فيروس كورونا بين الأطفال في المدارس",
    "فعالية اللقاحات ضد المتحورات الجديدة",
]

FAMILIES = ("bert", "distilbert", "electra", "roberta", "xlm-roberta", "deberta-v2", "modernbert")


def corpus_texts() -> list[str]:
    from ranker.data.sample import generate_sample

    frame = generate_sample(12)
    return [*frame["query"].unique(), *frame["title"].unique(), *MULTILINGUAL]


def _wordpiece(texts: Iterable[str], specials: list[str]) -> dict[str, int]:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(
        texts, trainers.WordPieceTrainer(vocab_size=800, special_tokens=specials)
    )
    return tok.get_vocab()


def _bpe(texts: Iterable[str], specials: list[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=800,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return model["vocab"], merges


def _unigram(texts: Iterable[str], specials: list[str], unk: str) -> list[tuple[str, float]]:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.train_from_iterator(
        texts, trainers.UnigramTrainer(vocab_size=800, special_tokens=specials, unk_token=unk)
    )
    return [(piece, float(score)) for piece, score in json.loads(tok.to_str())["model"]["vocab"]]


def build_tokenizer(family: str, texts: list[str]):
    import transformers as tf

    bert_specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    if family in ("bert", "distilbert", "electra"):
        cls = {"bert": tf.BertTokenizer, "distilbert": tf.DistilBertTokenizer}.get(
            family, tf.ElectraTokenizer
        )
        return cls(vocab=_wordpiece(texts, bert_specials))
    if family == "roberta":
        vocab, merges = _bpe(texts, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
        return tf.RobertaTokenizer(vocab=vocab, merges=merges)
    if family == "xlm-roberta":
        return tf.XLMRobertaTokenizer(
            vocab=_unigram(texts, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"], "<unk>")
        )
    if family == "deberta-v2":
        return tf.DebertaV2Tokenizer(vocab=_unigram(texts, bert_specials, "[UNK]"), unk_id=1)
    if family == "modernbert":
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

        vocab, merges = _bpe(texts, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B [SEP]",
            special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
        )
        return tf.PreTrainedTokenizerFast(
            tokenizer_object=tok,
            cls_token="[CLS]",
            sep_token="[SEP]",
            pad_token="[PAD]",
            unk_token="[UNK]",
            mask_token="[MASK]",
            model_input_names=["input_ids", "attention_mask"],
        )
    raise ValueError(family)


def build_config(family: str, tokenizer):
    import transformers as tf

    from ranker.model.modeling import ID2LABEL, LABEL2ID

    common = dict(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        num_labels=2,
        id2label=ID2LABEL,
        label2id=LABEL2ID,
    )
    bert_like = dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    if family == "bert":
        return tf.BertConfig(**common, **bert_like)
    if family == "electra":
        return tf.ElectraConfig(**common, **bert_like, embedding_size=32)
    if family in ("roberta", "xlm-roberta"):
        cls = tf.RobertaConfig if family == "roberta" else tf.XLMRobertaConfig
        return cls(
            **common,
            **{**bert_like, "max_position_embeddings": 514},
            bos_token_id=tokenizer.cls_token_id,
            eos_token_id=tokenizer.sep_token_id,
            type_vocab_size=1,
        )
    if family == "distilbert":
        return tf.DistilBertConfig(
            **common, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=512
        )
    if family == "deberta-v2":
        return tf.DebertaV2Config(
            **common,
            **bert_like,
            type_vocab_size=0,
            relative_attention=True,
            position_buckets=32,
            pos_att_type=["p2c", "c2p"],
            max_relative_positions=-1,
        )
    if family == "modernbert":
        return tf.ModernBertConfig(
            **common,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=512,
            cls_token_id=tokenizer.cls_token_id,
            sep_token_id=tokenizer.sep_token_id,
            bos_token_id=tokenizer.cls_token_id,
            eos_token_id=tokenizer.sep_token_id,
            global_attn_every_n_layers=2,
            local_attention=16,
        )
    raise ValueError(family)


def build_family(family: str, out: Path, texts: list[str] | None = None) -> Path:
    """Save a tiny random `family` classifier and its tokenizer into `out`; returns `out`."""
    import torch
    from transformers import AutoModelForSequenceClassification

    tokenizer = build_tokenizer(family, texts or corpus_texts())
    config = build_config(family, tokenizer)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
