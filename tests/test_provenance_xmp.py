"""XMP: the DigitalSourceType label goes where each format's readers look, and reads back."""

import struct

import numpy as np
import pytest
from PIL import Image

from nonesuch.provenance.xmp import (DIGITAL_SOURCE_TYPE, FORMATS, XmpFields, encode_image,
                                     read_xmp, sniff_format, xmp_fields, xmp_packet)


@pytest.fixture
def pixels(emoji_folder):
    png = sorted(emoji_folder.glob("*/*.png"))[0]
    return np.asarray(Image.open(png).convert("RGB").resize((128, 128)))


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_packet_round_trips_through_every_format(pixels, fmt):
    packet = xmp_packet(XmpFields(ai_system_version="run-1 <step & 4000>",
                                  extra={"Seed": 7, "WatermarkID": "00000000abcd"}))
    data = encode_image(pixels, fmt, packet)
    assert sniff_format(data) == fmt
    fields = xmp_fields(read_xmp(data))
    assert fields["Iptc4xmpExt:DigitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert fields["Iptc4xmpExt:AISystemUsed"] == "nonesuch Progressive GAN"
    assert fields["Iptc4xmpExt:AISystemVersionUsed"] == "run-1 <step & 4000>"   # escaped, intact
    assert fields["nonesuch:Seed"] == "7"
    # Pillow decodes the file, and sees the same packet.
    import io
    assert Image.open(io.BytesIO(data)).size == (128, 128)


def test_png_packet_is_an_itxt_chunk_before_idat(pixels):
    data = encode_image(pixels, "png", xmp_packet(XmpFields()))
    chunks, offset = [], 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        chunks.append((kind, data[offset + 8:offset + 8 + min(length, 17)]))
        offset += 12 + length
    kinds = [k for k, _ in chunks]
    xmp_at = chunks.index((b"iTXt", b"XML:com.adobe.xmp"))
    assert xmp_at < kinds.index(b"IDAT")


def test_files_without_a_packet_read_as_absent(pixels):
    for fmt in FORMATS:
        assert read_xmp(encode_image(pixels, fmt, None)) is None
    assert read_xmp(b"not an image at all") is None
    assert read_xmp(b"\x89PNG\r\n\x1a\n\x00\x00") is None          # truncated container
    assert xmp_fields(b"<x:xmpmeta broken") == {}


def test_fields_written_as_elements_by_other_tools_are_read():
    packet = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
              b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
              b'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
              b'<Iptc4xmpExt:DigitalSourceType>' + DIGITAL_SOURCE_TYPE.encode() +
              b'</Iptc4xmpExt:DigitalSourceType></rdf:Description></rdf:RDF></x:xmpmeta>')
    assert xmp_fields(packet)["Iptc4xmpExt:DigitalSourceType"] == DIGITAL_SOURCE_TYPE


@pytest.mark.skipif(not __import__("shutil").which("exiftool"),
                    reason="exiftool not installed (Debian: libimage-exiftool-perl)")
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_exiftool_reads_the_label(pixels, fmt, tmp_path):
    import subprocess

    path = tmp_path / f"x.{fmt}"
    path.write_bytes(encode_image(pixels, fmt, xmp_packet(XmpFields())))
    shown = subprocess.run(["exiftool", "-XMP-iptcExt:DigitalSourceType", "-s3", str(path)],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert shown == DIGITAL_SOURCE_TYPE
