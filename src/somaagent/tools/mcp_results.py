"""An MCP CallToolResult as a ToolOutput.

    text content            -> stdout (blocks joined by newlines; a resource link as its URI)
    structuredContent       -> data (a non-object value as {"result": value})
    image / audio / blob    -> files (decoded; the executor stores them as attachments)
    embedded text resource  -> a file too (its URI's last segment, or resource-N.txt)
    isError                 -> status "error", the first text line as the reason

stdout and the JSON of data are capped at the limits' max_output_bytes; past it stdout is cut
(truncated) and data is dropped with a reason.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import mimetypes
import re
from pathlib import Path

import mcp_types as types
import orjson

from somaagent.domain.tools import SandboxLimits
from somaagent.tools.base import ToolOutput


def _file_name(index: int, uri: str | None, mime: str | None) -> str:
    tail = re.sub(r"[^A-Za-z0-9._-]", "_", (uri or "").rstrip("/").rsplit("/", 1)[-1])[:80]
    if tail and "." in tail:
        return f"{index}-{tail}"
    ext = mimetypes.guess_extension(mime or "") or ".bin"
    return f"{index}-{tail or 'content'}{ext}"


def _blob(index: int, block: types.ContentBlock) -> tuple[str, bytes] | None:
    """(file name, bytes) of a non-text block; None for text and links."""
    try:
        if isinstance(block, types.ImageContent | types.AudioContent):
            return _file_name(index, None, block.mime_type), base64.b64decode(block.data)
        if isinstance(block, types.EmbeddedResource):
            res = block.resource
            name = _file_name(index, str(res.uri), res.mime_type or "text/plain")
            if isinstance(res, types.TextResourceContents):
                return name, res.text.encode()
            return name, base64.b64decode(res.blob)
    except (binascii.Error, ValueError):
        return f"{index}-undecodable.txt", b"the server sent content that is not valid base64"
    return None


def _text(block: types.ContentBlock) -> str | None:
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ResourceLink):
        return f"[resource] {block.uri}"
    return None


def _write(out_dir: Path, blobs: list[tuple[str, bytes]]) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in blobs:
        path = out_dir / name
        path.write_bytes(content)
        paths.append(path)
    return paths


async def to_output(
    result: types.CallToolResult, out_dir: Path, limits: SandboxLimits
) -> ToolOutput:
    """The ToolOutput of one result; files go under `out_dir`."""
    cap = limits.max_output_bytes
    texts = [t for b in result.content if (t := _text(b)) is not None]
    blobs = [b for i, block in enumerate(result.content) if (b := _blob(i, block)) is not None]
    stdout = "\n".join(texts)
    encoded = stdout.encode()
    truncated = len(encoded) > cap
    if truncated:
        stdout = encoded[:cap].decode(errors="ignore")
    data, dropped = _data(result.structured_content, cap)
    reason = dropped
    files = await asyncio.to_thread(_write, out_dir, blobs) if blobs else []
    if result.is_error:
        first = next((t.strip() for t in texts if t.strip()), "the tool reported an error")
        reason = first.splitlines()[0][:500]
    return ToolOutput(
        status="error" if result.is_error else "ok",
        stdout=stdout,
        truncated=truncated or dropped is not None,
        reason=reason,
        data=data,
        files=files,
    )


def _data(value: object, cap: int) -> tuple[dict[str, object] | None, str | None]:
    if value is None:
        return None, None
    data = value if isinstance(value, dict) else {"result": value}
    size = len(orjson.dumps(data, default=str))
    if size > cap:
        return None, f"structured content of {size} bytes is over the {cap}-byte limit; dropped"
    return data, None
