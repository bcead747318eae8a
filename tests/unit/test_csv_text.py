"""How a streamed CSV file is cut into chunks: the same text as the whole file, the header at
once, then the lines in chunks of about ``CHUNK`` characters (one socket write each under
gunicorn), not one per line."""

import csv
import io

from relief.treasury.exports import CHUNK, csv_text


def _whole(header, rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def test_a_large_file_is_the_same_text_in_few_chunks_of_whole_lines():
    header = ("entry_id", "memo", "amount")
    rows = [(n, f'gift, "{n}"\nsecond line', f"{n}.00") for n in range(20_000)]
    chunks = list(csv_text(header, iter(rows)))
    assert "".join(chunks) == _whole(header, rows)
    assert chunks[0] == "entry_id,memo,amount\r\n"  # the download starts at once
    total = sum(len(chunk) for chunk in chunks)
    assert len(chunks) <= 2 + total // CHUNK  # 20,000 lines, not 20,000 writes
    for chunk in chunks[1:-1]:
        assert len(chunk) >= CHUNK
        assert chunk.endswith("\r\n")  # a chunk ends with a whole line
    parsed = list(csv.reader(io.StringIO("".join(chunks[1:]))))
    assert parsed[0] == ["0", 'gift, "0"\nsecond line', "0.00"] and len(parsed) == 20_000


def test_a_file_of_no_rows_is_its_header_and_a_short_one_is_two_chunks():
    assert list(csv_text(("a", "b"), iter(()))) == ["a,b\r\n"]
    assert list(csv_text(("a", "b"), iter([(1, 2), (3, 4)]))) == ["a,b\r\n", "1,2\r\n3,4\r\n"]
