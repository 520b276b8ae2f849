"""A real MCP client (the Python `mcp` package, PyPI) for crates/sessiondb-cli/tests/mcp.rs.

Usage: mcp_client.py CALLS.json SERVER [ARGS...]

Starts SERVER ARGS over stdio with this process's environment, lists its tools, then makes each call in
CALLS.json (a list of {"name": ..., "arguments": {...}}) in order, and prints one JSON report on stdout:
{"server": {...}, "tools": [{"name", "description", "inputSchema"}], "calls": [{"name", "arguments",
"isError", "text", "structured"} | {"name", "arguments", "protocolError": "..."}]}. It checks nothing itself:
the Rust test asserts on the report.
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError


async def main() -> None:
    calls_path, command, *args = sys.argv[1:]
    with open(calls_path) as f:
        calls = json.load(f)
    params = StdioServerParameters(command=command, args=args, env=dict(os.environ))
    report = {"tools": [], "calls": []}
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            report["server"] = {
                "name": init.server_info.name,
                "version": init.server_info.version,
                "protocolVersion": str(init.protocol_version),
            }
            listed = await session.list_tools()
            for tool in listed.tools:
                report["tools"].append(
                    {
                        "name": tool.name,
                        "description": tool.description,
                        "inputSchema": tool.input_schema,
                    }
                )
            for call in calls:
                entry = {"name": call["name"], "arguments": call.get("arguments")}
                try:
                    result = await asyncio.wait_for(
                        session.call_tool(call["name"], call.get("arguments")), timeout=60
                    )
                except MCPError as err:
                    entry["protocolError"] = str(err)
                else:
                    entry["isError"] = bool(result.is_error)
                    entry["text"] = "".join(
                        block.text for block in result.content if getattr(block, "type", None) == "text"
                    )
                    entry["structured"] = result.structured_content
                report["calls"].append(entry)
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main())
