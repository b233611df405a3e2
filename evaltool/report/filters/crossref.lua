--[[
crossref.lua: Quarto-style cross-references, figure alt text and callouts for plain pandoc.

Used only when evaltool renders without Quarto, so both routes give the same numbering:
  * sections (headers without the "unnumbered" class) numbered 1, 1.1, ... ; @sec-x -> "Section 2"
  * figures with id fig-*          -> "Figure N: caption";  @fig-x -> "Figure N"
  * divs/tables with id tbl-*      -> "Table N: caption";   @tbl-x -> "Table N"
  * the image's fig-alt attribute becomes its alt text (Quarto does the same)
  * ::: {.callout-note|warning|important title="..."} becomes a styled box per format
Appendix sections (after a header with class "appendix") number figures/tables A1, A2, ...
]]

local fig_n, tbl_n, app_fig, app_tbl = 0, 0, 0, 0
local labels = {}
local in_appendix = false
local sec = {0, 0, 0, 0, 0, 0}

local function prefix_caption(caption, text)
  -- caption is a pandoc Caption; prepend "Figure N: " to its long caption
  local long = caption.long
  if #long == 0 then
    long = pandoc.Blocks({pandoc.Plain({pandoc.Str(text)})})
  else
    local first = long[1]
    if first.content then
      local inl = pandoc.Inlines({pandoc.Str(text .. ":"), pandoc.Space()})
      inl:extend(first.content)
      first.content = inl
      long[1] = first
    end
  end
  caption.long = long
  return caption
end

local function number_header(h)
  if h.classes:includes("appendix") then in_appendix = true end
  if h.classes:includes("unnumbered") then return h end
  local lvl = h.level
  sec[lvl] = sec[lvl] + 1
  for i = lvl + 1, #sec do sec[i] = 0 end
  local parts = {}
  for i = 1, lvl do table.insert(parts, tostring(sec[i])) end
  local num = table.concat(parts, ".")
  if h.identifier ~= "" then labels[h.identifier] = "Section " .. num end
  return h
end

local function number_figure(fig)
  if not fig.identifier:match("^fig%-") then return fig end
  local label
  if in_appendix then app_fig = app_fig + 1; label = "Figure A" .. app_fig
  else fig_n = fig_n + 1; label = "Figure " .. fig_n end
  labels[fig.identifier] = label
  fig.caption = prefix_caption(fig.caption, label)
  -- alt text: the image's fig-alt attribute replaces the caption as the description
  fig = fig:walk({
    Image = function(img)
      local alt = img.attributes["fig-alt"]
      if alt then
        img.caption = pandoc.Inlines({pandoc.Str(alt)})
        img.attributes["fig-alt"] = nil
        img.attributes["alt"] = nil
      end
      return img
    end
  })
  return fig
end

local function number_table_div(div)
  if not div.identifier:match("^tbl%-") then return nil end
  local label
  if in_appendix then app_tbl = app_tbl + 1; label = "Table A" .. app_tbl
  else tbl_n = tbl_n + 1; label = "Table " .. tbl_n end
  labels[div.identifier] = label
  div = div:walk({
    Table = function(t)
      t.caption = prefix_caption(t.caption, label)
      return t
    end
  })
  return div
end

local callout_fill = {note = "#E8EDEE", warning = "#FFF4D6", important = "#FDE8E2", tip = "#E3F4F2"}

local function callout(div)
  local kind
  for _, c in ipairs(div.classes) do
    local k = c:match("^callout%-(%a+)$")
    if k then kind = k end
  end
  if not kind then return nil end
  local title = div.attributes["title"]
  local body = pandoc.Blocks({})
  if title then
    body:insert(pandoc.Para({pandoc.Strong({pandoc.Str(title)})}))
  end
  body:extend(div.content)
  if FORMAT:match("typst") then
    local out = pandoc.Blocks({pandoc.RawBlock("typst",
      '#block(fill: rgb("' .. (callout_fill[kind] or "#E8EDEE") ..
      '"), stroke: (left: 3pt + rgb("#005EB8")), inset: 8pt, width: 100%, breakable: true)[')})
    out:extend(body)
    out:insert(pandoc.RawBlock("typst", "]"))
    return out
  elseif FORMAT:match("docx") then
    return pandoc.Div(body, pandoc.Attr("", {}, {["custom-style"] = "Callout"}))
  else
    return pandoc.Div(body, pandoc.Attr(div.identifier, {"callout", "callout-" .. kind}, {}))
  end
end

local function resolve(cite)
  -- The reference as a marked link: its label and target are kept, and turned into what each format shows
  -- by the format's pass (xref_for_format below).
  local id = cite.citations[1].id
  local label = labels[id]
  if not label then return nil end
  return pandoc.Link(pandoc.Inlines(label), "#" .. id, "", pandoc.Attr("", {"evaltool-xref"}, {{"label", label}}))
end

local function xref_for_format(link)
  if not link.classes:includes("evaltool-xref") then return nil end
  local label = link.attributes["label"]
  if FORMAT:match("html") then
    return pandoc.Link(label, link.target)
  end
  return pandoc.Str(label)
end

-- Tables: allow long identifiers (snake_case codes, paths) to wrap after "_" or "/" (a zero-width
-- space) instead of overflowing their column, in every format.
local function wrap_codes(t)
  return t:walk({
    Str = function(s)
      if #s.text > 12 then
        return pandoc.Str((s.text:gsub("([_/])", "%1\u{200B}")))
      end
    end
  })
end

-- The filter runs in two passes: numbering and references (the same in every format), then what differs by
-- format (references as links or text, callout boxes). Pandoc's AST parsed once for all formats (FORMAT
-- "json") gets the first pass only, and a mark in its metadata; each format then runs the second pass only.
local MARK = "evaltool-crossref-numbered"
local numbered = false

local function number(doc)
  if numbered then return nil end
  -- pass 1: number in document order (top-down over the whole block tree)
  doc = doc:walk({
    traverse = "topdown",
    Header = number_header,
    Figure = number_figure,
    Div = function(d)
      local r = number_table_div(d)
      if r then return r, false end
      return nil
    end,
  })
  -- references resolved to marked links, then long codes in tables made breakable
  doc = doc:walk({Cite = resolve})
  doc = doc:walk({Table = wrap_codes})
  if FORMAT == "json" then doc.meta[MARK] = true end
  return doc
end

local function for_format(f)
  return function(el)
    if FORMAT == "json" then return nil end
    return f(el)
  end
end

return {
  {Meta = function(meta)
    if meta[MARK] then
      numbered = true
      meta[MARK] = nil
      return meta
    end
  end},
  {Pandoc = number},
  {Link = for_format(xref_for_format), Div = for_format(callout)},
}
