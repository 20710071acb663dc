#!/usr/bin/env python3
# Writes Lockstep's corpus of hostile IDX, npy and safetensors files, each named after its flaw,
# a few valid files (the fuzzers' seeds), and manifest.tsv (the reader and error for each file).
# Standard library only and deterministic; the output is committed, so tests need no Python.
import gzip
import json
import pathlib
import shutil
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parent
KINDS = ("idx", "npy", "safetensors", "valid")

# (reader, file, companion or "-", fragment the error must hold besides the file's path)
manifest = []


def write(relative, data):
    path = ROOT / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def reject(reader, relative, data, fragment, companion="-"):
    write(relative, data)
    manifest.append((reader, relative, companion, fragment))


def gz(data):
    # mtime 0 and no file name keep the bytes reproducible.
    return gzip.compress(data, compresslevel=9, mtime=0)


# ---- IDX: 00 00 type ndims, big-endian uint32 extents, big-endian elements ----

def idx(type_code, dims, payload=b"", ndims=None):
    count = len(dims) if ndims is None else ndims
    return bytes([0, 0, type_code, count]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def idx_files():
    good = idx(0x08, [2, 3], bytes(range(6)))
    write("valid/idx/u8_2x3.idx", good)
    write("valid/idx/u8_2x3.idx.gz", gz(good))
    # Two gzip members back to back form one stream (what `cat a.gz b.gz` gives).
    write("valid/idx/u8_2x3_two_members.idx.gz", gz(good[:7]) + gz(good[7:]))
    write("valid/idx/f32_3.idx", idx(0x0D, [3], struct.pack(">3f", 1.5, -2.0, 0.25)))
    write("valid/idx/labels_2.idx", idx(0x08, [2], bytes([3, 9])))

    r = "read_idx"
    reject(r, "idx/empty_file.idx", b"", "header is truncated")
    reject(r, "idx/truncated_header_magic.idx", b"\0\0\x08", "expected 4 magic bytes")
    reject(r, "idx/truncated_header_dims.idx", idx(0x08, [3, 4])[:9],
           "expected 8 bytes of dimensions at offset 4")
    reject(r, "idx/truncated_body.idx", idx(0x08, [10], b"12345"),
           "data is truncated: expected 10 bytes")
    reject(r, "idx/trailing_data.idx", idx(0x08, [3], b"1234"), "1 trailing bytes")
    reject(r, "idx/magic_not_two_zero_bytes.idx", b"\x01\x00\x08\x01\0\0\0\x01\x05",
           "two zero bytes")
    reject(r, "idx/unknown_type_code_0x0a.idx", idx(0x0A, [1], b"x"),
           "unknown type code 0x0a at offset 2")
    reject(r, "idx/zero_dimensions.idx", idx(0x08, []), "dimension count at offset 3 is 0")
    reject(r, "idx/nine_dimensions.idx", idx(0x08, [1] * 9, b"x"),
           "dimension count at offset 3 is 9")
    reject(r, "idx/dimension_2pow31.idx", idx(0x08, [2**31]),
           "dimension 0 (offset 4) is 2147483648")
    reject(r, "idx/dims_0_2pow31_2pow31.idx", idx(0x08, [0, 2**31, 2**31]),
           "dimension 1 (offset 8) is 2147483648")
    reject(r, "idx/dims_product_overflows_int64.idx", idx(0x0E, [2**31 - 1] * 3),
           "more bytes than int64 can count")
    reject(r, "idx/payload_above_4gib_limit.idx", idx(0x0E, [2**31 - 1, 4]),
           "above the limit of 4294967296")
    # 3 GiB declared (under the limit) over 1000 bytes: must fail without allocating 3 GiB.
    reject(r, "idx/claims_3gib_holds_1kb.idx", idx(0x08, [3 << 10, 1 << 20], b"x" * 1000),
           "data is truncated: expected 3221225472 bytes")
    reject(r, "idx/claims_3gib_holds_1kb.idx.gz", gz(idx(0x08, [3 << 10, 1 << 20], b"x" * 1000)),
           "found 1000 (decompressed)")
    # gzip: a stream cut short, a body that is not IDX, a corrupted checksum, and a damaged
    # magic that makes the file raw bytes.
    packed = gz(idx(0x08, [64], b"q" * 64))
    reject(r, "idx/gzip_truncated_stream.idx.gz", packed[: len(packed) // 2],
           "the gzip stream is truncated")
    reject(r, "idx/gzip_body_not_idx.gz", gz(b"hello, world\n"), "two zero bytes")
    bad_crc = bytearray(packed)
    bad_crc[-8] ^= 0xFF
    reject(r, "idx/gzip_bad_crc.idx.gz", bytes(bad_crc), "gzip stream is damaged")
    bad_magic = bytearray(packed)
    bad_magic[1] = 0x8C
    reject(r, "idx/gzip_magic_damaged_read_as_raw.idx.gz", bytes(bad_magic), "two zero bytes")
    reject(r, "idx/gzip_trailing_data.idx.gz", gz(idx(0x08, [3], b"1234")),
           "trailing data after the 3 bytes")
    second = bytearray(gz(good[7:]))
    second[12] ^= 0xFF
    reject(r, "idx/gzip_second_member_damaged.idx.gz", gz(good[:7]) + bytes(second),
           "the gzip stream is damaged")
    reject(r, "idx/gzip_garbage_after_stream.idx.gz", gz(idx(0x08, [3], b"123")) + b"junk",
           "has 4 bytes after the gzip stream that ends at offset")

    # Pairs: images and labels that do not belong together.
    write("idx/pair_count_mismatch_images.idx", idx(0x08, [3, 2, 2], bytes(12)))
    write("idx/pair_count_mismatch_labels.idx", idx(0x08, [4], bytes([0, 1, 2, 3])))
    manifest.append(("idx_dataset_images", "idx/pair_count_mismatch_images.idx",
                     "idx/pair_count_mismatch_labels.idx", "hold 3 samples"))
    write("idx/pair_label_out_of_range_labels.idx", idx(0x08, [2], bytes([9, 10])))
    manifest.append(("idx_dataset_labels", "idx/pair_label_out_of_range_labels.idx",
                     "valid/idx/u8_2x3.idx", "label 1 is 10, expected 0 to 9"))
    write("idx/pair_labels_two_dimensions.idx", idx(0x08, [2, 1], bytes([1, 2])))
    manifest.append(("idx_dataset_labels", "idx/pair_labels_two_dimensions.idx",
                     "valid/idx/u8_2x3.idx", "expected one dimension [N], found [2, 1]"))
    write("idx/pair_labels_float.idx", idx(0x0D, [2], struct.pack(">2f", 1.0, 2.0)))
    manifest.append(("idx_dataset_labels", "idx/pair_labels_float.idx",
                     "valid/idx/u8_2x3.idx", "expected integer labels, found float32"))


# ---- npy: \x93NUMPY, version, little-endian header length, dict, data ----

def npy(header, data=b"", version=(1, 0), length=None):
    text = header.encode("latin1")
    if length is None:
        prefix = 10 if version[0] == 1 else 12
        pad = -(prefix + len(text) + 1) % 64
        text += b" " * pad + b"\n"
        length = len(text)
    field = struct.pack("<H", length) if version[0] == 1 else struct.pack("<I", length)
    return b"\x93NUMPY" + bytes(version) + field + text + data


def dict_text(descr="<f4", order="False", shape="(3,)"):
    return "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, order, shape)


def npy_files():
    three = struct.pack("<3f", 1.0, 2.0, 3.0)
    write("valid/npy/f4_3.npy", npy(dict_text(), three))
    write("valid/npy/u1_2x2.npy", npy(dict_text("|u1", shape="(2, 2)"), bytes([1, 2, 3, 4])))
    write("valid/npy/i8_scalar_v2.npy", npy(dict_text("<i8", shape="()"), struct.pack("<q", -7),
                                            version=(2, 0)))

    r = "read_npy"
    reject(r, "npy/truncated_preamble.npy", b"\x93NUMPY\x01", "expected at least 10 bytes")
    reject(r, "npy/bad_magic.npy", b"\x93NUMPX" + npy(dict_text(), three)[6:], "bad magic")
    reject(r, "npy/version_4_0.npy", npy(dict_text(), three, version=(4, 0)),
           "format version 4.0 is not supported")
    reject(r, "npy/header_length_past_end.npy", npy(dict_text(), three, length=0x7FFF),
           "header of 32767 bytes at offset 10 runs past the end")
    reject(r, "npy/header_length_above_limit_v2.npy",
           npy(dict_text(), three, version=(2, 0), length=0xFFFFFFFF),
           "header length 4294967295 at offset 8 exceeds the limit")
    # The length field says 20 bytes: the dict is cut in the middle of a string.
    reject(r, "npy/header_length_too_short.npy", npy(dict_text(), three, length=20),
           "npy header: expected the closing quote")
    reject(r, "npy/truncated_body.npy", npy(dict_text(), three[:-1]),
           "needs 12 bytes of data at offset 128, found 11 (truncated)")
    reject(r, "npy/trailing_data.npy", npy(dict_text(), three + b"x"),
           "found 13 (trailing bytes)")
    reject(r, "npy/fortran_order.npy", npy(dict_text("<i4", "True", "(2, 2)"), bytes(16)),
           "'fortran_order': True is not supported")
    reject(r, "npy/big_endian_f4.npy", npy(dict_text(">f4"), struct.pack(">3f", 1, 2, 3)),
           "dtype '>f4' is not supported (big-endian data)")
    reject(r, "npy/unsupported_dtype_f8.npy", npy(dict_text("<f8"), bytes(24)),
           "dtype '<f8' is not supported")
    reject(r, "npy/shape_product_overflows_int64.npy",
           npy(dict_text(shape="(4611686018427387904, 4)")), "more bytes than int64 can count")
    reject(r, "npy/shape_claims_4tb.npy", npy(dict_text(shape="(1000000000000,)"), three),
           "needs 4000000000000 bytes")
    reject(r, "npy/shape_extent_above_int64.npy",
           npy(dict_text(shape="(99999999999999999999,)")), "does not fit in int64")
    reject(r, "npy/shape_negative_extent.npy", npy(dict_text(shape="(-3,)")),
           "expected a non-negative integer")
    reject(r, "npy/shape_one_tuple_without_comma.npy", npy(dict_text(shape="(3)"), three),
           "',' after the only element")
    reject(r, "npy/key_descr_twice.npy",
           npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", three),
           "the key 'descr' appears twice")
    reject(r, "npy/key_shape_missing.npy", npy("{'descr': '<f4', 'fortran_order': False, }"),
           "lacks the key 'shape'")
    reject(r, "npy/key_unknown.npy",
           npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}", three),
           "unknown key 'x'")
    reject(r, "npy/header_not_a_dict.npy", npy("[1, 2, 3]"), "expected '{'")
    reject(r, "npy/header_text_after_dict.npy", npy(dict_text() + " ()", three),
           "expected the end of the header")


# ---- safetensors: little-endian u64 header length, JSON header, data ----

def compact(value):
    return json.dumps(value, separators=(",", ":"))


def st(header, data=b"", length=None):
    text = header if isinstance(header, bytes) else compact(header).encode()
    return struct.pack("<Q", len(text) if length is None else length) + text + data


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


# The spec of the built-in "mlp" model as Sequential::spec() writes it.
MLP_SPEC = {
    "name": "mlp",
    "input_shape": [1, 28, 28],
    "layers": [
        {"type": "Flatten"},
        {"type": "Dense", "units": 256, "use_bias": True, "kernel_initializer": "glorot_uniform"},
        {"type": "ReLU"},
        {"type": "Dense", "units": 256, "use_bias": True, "kernel_initializer": "glorot_uniform"},
        {"type": "ReLU"},
        {"type": "Dense", "units": 10, "use_bias": True, "kernel_initializer": "glorot_uniform"},
    ],
}


def checkpoint_metadata(**changes):
    metadata = {
        "format": "lockstep-checkpoint",
        "version": "1",
        "model_spec": compact(MLP_SPEC),
        "optimizer": "adam",
        "optimizer_hyperparameters": "{}",
        "step": "0",
        "epoch": "0",
        "seed": "1",
        "trainer_state": '{"position_in_epoch":0,"world_size":1,"extra":null}',
    }
    metadata.update(changes)
    return metadata


def safetensors_files():
    four = struct.pack("<4f", 1, 2, 3, 4)
    write("valid/safetensors/two_tensors.safetensors",
          st({"__metadata__": {"k": "v"}, "a": entry("F32", [2], 0, 8),
              "b": entry("F32", [2], 8, 16)}, four))
    write("valid/safetensors/empty.safetensors", st({}))

    r = "read_safetensors"
    one = {"t": entry("F32", [4], 0, 16)}
    reject(r, "safetensors/shorter_than_length_field.safetensors", b"abc",
           "fewer than the 8-byte header length")
    reject(r, "safetensors/header_length_past_end.safetensors", st(one, four, length=1000),
           "header length 1000 runs past the end")
    reject(r, "safetensors/header_length_over_100mb.safetensors", st(one, four, length=200_000_000),
           "header length 200000000 exceeds the limit of 100000000")
    reject(r, "safetensors/header_length_u64_max.safetensors", st(one, four, length=2**64 - 1),
           "header length 18446744073709551615 exceeds the limit")
    # The length field is 10 bytes short: the JSON is cut and the rest counts as data.
    text = json.dumps(one, separators=(",", ":")).encode()
    reject(r, "safetensors/header_length_too_short.safetensors",
           st(text, four, length=len(text) - 10), "header: not valid JSON")
    reject(r, "safetensors/header_not_json.safetensors", st(b"{not json"), "not valid JSON")
    reject(r, "safetensors/header_is_array.safetensors", st(b"[1,2]"),
           "is a JSON array, expected an object")
    reject(r, "safetensors/header_nests_deep.safetensors", st(b"[" * 1000), "nests deeper")
    reject(r, "safetensors/duplicate_tensor_names.safetensors",
           st(b'{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
              b'"t":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', four),
           "tensor name 't' appears twice")
    reject(r, "safetensors/duplicate_field_in_tensor.safetensors",
           st(b'{"t":{"dtype":"F32","dtype":"F16","shape":[4],"data_offsets":[0,16]}}', four),
           "key 'dtype' appears twice in 't'")
    reject(r, "safetensors/overlapping_offsets.safetensors",
           st({"a": entry("F32", [3], 0, 12), "b": entry("F32", [2], 8, 16)}, four),
           "tensor 'b': data_offsets [8, 16] overlap tensor 'a'")
    reject(r, "safetensors/same_offsets_twice.safetensors",
           st({"a": entry("F32", [4], 0, 16), "b": entry("F32", [4], 0, 16)}, four),
           "overlap tensor 'a'")
    reject(r, "safetensors/hole_between_tensors.safetensors",
           st({"a": entry("F32", [1], 0, 4), "b": entry("F32", [2], 8, 16)}, four),
           "bytes [4, 8) belong to no tensor")
    reject(r, "safetensors/trailing_data.safetensors", st(one, four + b"tail"),
           "trailing data after the last tensor")
    reject(r, "safetensors/truncated_body.safetensors", st(one, four[:-1]),
           "tensor 't': data_offsets [0, 16] reach past the end of the data buffer (15 bytes)")
    reject(r, "safetensors/offsets_past_end_u64.safetensors",
           st({"t": entry("F32", [1], 2**64 - 4, 2**64 - 1)}, four),
           "tensor 't': data_offsets [18446744073709551612, 18446744073709551615] span 3 bytes")
    reject(r, "safetensors/offsets_end_before_begin.safetensors",
           st({"t": entry("F32", [1], 8, 4)}, four), "end before they begin")
    reject(r, "safetensors/byte_count_not_shape.safetensors",
           st({"t": entry("F32", [2, 2], 0, 12)}, four[:12]),
           "span 12 bytes, shape [2, 2] of F32 needs 16")
    reject(r, "safetensors/shape_product_overflows.safetensors",
           st({"t": entry("F32", [2**32, 2**32], 0, 16)}, four), "more elements than 64 bits")
    reject(r, "safetensors/shape_2pow62_f32_bits_overflow.safetensors",
           st({"t": entry("F32", [2**62], 0, 16)}, four), "more bytes than 64 bits")
    reject(r, "safetensors/shape_negative_extent.safetensors",
           st({"t": entry("F32", [4, -1], 0, 16)}, four), "shape extent 1 is -1")
    reject(r, "safetensors/shape_extent_above_int64.safetensors",
           st({"t": entry("F32", [2**64 - 1], 0, 16)}, four), "larger than int64 can hold")
    reject(r, "safetensors/unknown_dtype.safetensors", st({"t": entry("F33", [4], 0, 16)}, four),
           "dtype 'F33' is not a safetensors dtype")
    reject(r, "safetensors/dtype_f16_not_loadable.safetensors",
           st({"t": entry("F16", [8], 0, 16)}, four), "tensor 't' has unsupported dtype F16")
    reject(r, "safetensors/metadata_value_not_string.safetensors",
           st({"__metadata__": {"step": 3}, **one}, four),
           "'__metadata__' value of key 'step' is a JSON number")
    reject(r, "safetensors/tensor_missing_data_offsets.safetensors",
           st({"t": {"dtype": "F32", "shape": [4]}}, four), "no field 'data_offsets'")

    # Checkpoints for the built-in mlp (Dense 784-256-256-10 after a Flatten, Adam).
    w = "safetensors/checkpoint_mlp_weight_dtype_f16.safetensors"
    reject("read_checkpoint", w,
           st({"__metadata__": checkpoint_metadata(), "1.weight": entry("F16", [2, 4], 0, 16)},
              four), "tensor '1.weight' has unsupported dtype F16")
    reject("restore_checkpoint_mlp", "safetensors/checkpoint_mlp_weight_shape_2x2.safetensors",
           st({"__metadata__": checkpoint_metadata(), "1.weight": entry("F32", [2, 2], 0, 16)},
              four), "'1.weight' is [2, 2] in the checkpoint, [256, 784] in the model")
    reject("restore_checkpoint_mlp", "safetensors/checkpoint_mlp_unknown_tensor.safetensors",
           st({"__metadata__": checkpoint_metadata(), "9.weight": entry("F32", [4], 0, 16)}, four),
           "extra parameters '9.weight' [4]")
    narrow_last = dict(MLP_SPEC["layers"][5], units=7)
    narrow_spec = dict(MLP_SPEC, layers=MLP_SPEC["layers"][:5] + [narrow_last])
    reject("restore_checkpoint_mlp", "safetensors/checkpoint_mlp_spec_other_width.safetensors",
           st({"__metadata__": checkpoint_metadata(model_spec=compact(narrow_spec))}),
           "at /layers/5/units (checkpoint 7, model 10)")
    reject("read_checkpoint", "safetensors/checkpoint_format_missing.safetensors",
           st({"__metadata__": {"version": "1"}, **one}, four), "metadata key 'format' is missing")
    reject("read_checkpoint", "safetensors/checkpoint_world_size_0.safetensors",
           st({"__metadata__": checkpoint_metadata(
               trainer_state='{"position_in_epoch":0,"world_size":0}')}),
           "trainer_state field 'world_size' is 0")
    reject("read_checkpoint", "safetensors/checkpoint_step_negative.safetensors",
           st({"__metadata__": checkpoint_metadata(step="-1")}),
           "metadata key 'step' is '-1', expected a non-negative integer")


def main():
    for kind in KINDS:
        shutil.rmtree(ROOT / kind, ignore_errors=True)
    idx_files()
    npy_files()
    safetensors_files()
    lines = ["# reader\tfile\tcompanion\tfragment (generated by make_corpus.py)"]
    lines += ["\t".join(row) for row in manifest]
    (ROOT / "manifest.tsv").write_text("\n".join(lines) + "\n")
    total = sum(1 for p in ROOT.rglob("*") if p.is_file() and p.parent != ROOT)
    print(f"wrote {len(manifest)} hostile cases, {total} files under {ROOT}", file=sys.stderr)


if __name__ == "__main__":
    main()
