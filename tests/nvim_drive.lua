-- Drives Neovim 0.11 (headless) against `fitc lsp`, as a user would: open a file, make a
-- typo, read the diagnostics, hover, complete, go to definition, apply the quick fix,
-- format, and after a save with too many replicas apply a repair of the conflict. Writes what it saw as JSON to $FITC_OUT; tests/test_editor_nvim.py asserts it.
-- The configuration is docs/editor.md's Neovim 0.11 snippet, with the server command
-- pointed at the Python under test.

local out_path = os.getenv("FITC_OUT")
local file = os.getenv("FITC_FILE")
local seen = { steps = {} }

local function save()
  vim.fn.writefile({ vim.json.encode(seen) }, out_path)
end

local function step(name, value)
  seen[name] = value
  table.insert(seen.steps, name)
  save()
end

local function run()
  vim.filetype.add({ extension = { fit = "fit" } })
  vim.lsp.config("fitc", {
    cmd = { os.getenv("FITC_PYTHON"), "-m", "fitlang.cli", "lsp" },
    filetypes = { "fit" },
    root_markers = { ".git", "pyproject.toml" },
    init_options = { solveTimeLimit = 10 },
  })
  vim.lsp.enable("fitc")

  vim.cmd.edit(file)
  local buffer = vim.api.nvim_get_current_buf()
  step("filetype", vim.bo[buffer].filetype)
  local attached = vim.wait(20000, function()
    return #vim.lsp.get_clients({ bufnr = buffer, name = "fitc" }) > 0
  end, 50)
  step("attached", attached)
  local client = vim.lsp.get_clients({ bufnr = buffer, name = "fitc" })[1]
  step("semantic_tokens", client.server_capabilities.semanticTokensProvider ~= nil)

  local function codes()
    local found = {}
    for _, d in ipairs(vim.diagnostic.get(buffer)) do
      table.insert(found, { d.code, d.lnum, d.col })
    end
    table.sort(found, function(a, b) return a[2] * 1000 + a[3] < b[2] * 1000 + b[3] end)
    return found
  end

  -- a clean file: no diagnostics once the first check is published
  vim.wait(3000, function() return false end, 100)
  step("clean", codes())

  -- the typo: `memory` on line 6 (0-based 5) becomes `memry`
  local line = vim.api.nvim_buf_get_lines(buffer, 5, 6, true)[1]
  vim.api.nvim_buf_set_lines(buffer, 5, 6, true, { (line:gsub("memory", "memry")) })
  vim.wait(20000, function() return #vim.diagnostic.get(buffer) >= 2 end, 50)
  step("typo", codes())

  local function request(method, params)
    local response = client:request_sync(method, params, 10000, buffer)
    return response and response.result, response and response.err
  end
  local function at(row, col)
    return { textDocument = { uri = vim.uri_from_bufnr(buffer) },
             position = { line = row, character = col } }
  end

  local hover = request("textDocument/hover", at(12, 10))  -- `train` of `workload train {`
  step("hover", hover and hover.contents.value or vim.NIL)

  local completion = request("textDocument/completion", at(16, 2))  -- the empty line
  local labels = {}
  for _, item in ipairs(completion.items or completion) do
    table.insert(labels, item.label)
  end
  table.sort(labels)
  step("completion", labels)

  local definition = request("textDocument/definition", at(7, 13))  -- `H100`
  local target = definition[1] or definition
  step("definition", { vim.fn.fnamemodify(vim.uri_to_fname(target.uri), ":t"),
                       target.range.start.line })

  -- the quick fix for the typo, as `gra` would offer it
  local lsp_diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(buffer)) do
    table.insert(lsp_diagnostics, d.user_data.lsp)
  end
  local actions = request("textDocument/codeAction", {
    textDocument = { uri = vim.uri_from_bufnr(buffer) },
    range = { start = { line = 5, character = 0 }, ["end"] = { line = 5, character = 0 } },
    context = { diagnostics = lsp_diagnostics },
  })
  local titles = {}
  for _, action in ipairs(actions) do
    table.insert(titles, { action.title, action.isPreferred == true })
  end
  step("actions", titles)
  vim.lsp.util.apply_workspace_edit(actions[1].edit, client.offset_encoding)
  step("fixed_line", vim.api.nvim_buf_get_lines(buffer, 5, 6, true)[1])
  vim.wait(20000, function() return #vim.diagnostic.get(buffer) == 0 end, 50)
  step("after_fix", codes())

  -- formatting: a line out of place, then `vim.lsp.buf.format()`
  vim.api.nvim_buf_set_lines(buffer, 14, 15, true, { "      cpu   =   8" })
  vim.lsp.buf.format({ bufnr = buffer, timeout_ms = 10000 })
  step("formatted", table.concat(vim.api.nvim_buf_get_lines(buffer, 0, -1, true), "\n"))

  -- more replicas than the pool holds, saved: the conflict, and a repair applied
  local row
  for index, text in ipairs(vim.api.nvim_buf_get_lines(buffer, 0, -1, true)) do
    if text:match("^%s*replicas = ") then row = index - 1 end
  end
  vim.api.nvim_buf_set_lines(buffer, row, row + 1, true, { "  replicas = 20" })
  vim.cmd.write()
  local function conflict()
    for _, d in ipairs(vim.diagnostic.get(buffer)) do
      if d.code == "E0501" then return d end
    end
  end
  vim.wait(60000, function() return conflict() ~= nil end, 100)
  local found = conflict()
  step("conflict", found ~= nil)
  local uri = vim.uri_from_bufnr(buffer)
  local repairs = request("textDocument/codeAction", {
    textDocument = { uri = uri }, range = found.user_data.lsp.range,
    context = { diagnostics = { found.user_data.lsp } },
  })
  local offered = {}
  for _, action in ipairs(repairs) do
    table.insert(offered, { action.edit.changes[uri][1].newText, action.isPreferred == true })
  end
  step("repairs", offered)
  vim.lsp.util.apply_workspace_edit(repairs[#repairs].edit, client.offset_encoding)
  step("repaired_line", vim.api.nvim_buf_get_lines(buffer, row, row + 1, true)[1])
end

local ok, problem = pcall(run)
if not ok then
  seen.error = tostring(problem)
end
save()
vim.cmd("qa!")
