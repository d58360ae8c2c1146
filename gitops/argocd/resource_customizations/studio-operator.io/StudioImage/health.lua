-- Argo CD health check for studio-operator.io/v1alpha1 StudioImage (namespaced).
-- Reads only the operator's kstatus conditions (Ready / Reconciling / Stalled, src/status.rs):
--   Healthy      Ready=True and status.observedGeneration == metadata.generation
--   Degraded     Stalled=True: the operator cannot go on without a change by a person
--   Progressing  no status yet, generation not yet observed, Reconciling=True, Ready not True
-- Never Suspended. Uses only Lua's base library (argocd-cm scripts run without useOpenLibs).
local hs = { status = "Progressing", message = "Waiting for the operator to report status" }

local function find(conditions, type)
  for _, c in ipairs(conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function isTrue(c)
  return c ~= nil and c.status == "True"
end

-- The message of the first condition that has one, else the fallback.
local function message(fallback, first, second)
  if first ~= nil and first.message ~= nil and first.message ~= "" then
    return first.message
  end
  if second ~= nil and second.message ~= nil and second.message ~= "" then
    return second.message
  end
  return fallback
end

-- "Stalled: KmsKeyNotEnabled", or "Stalled" when the condition has no reason.
local function label(prefix, c)
  if c.reason ~= nil and c.reason ~= "" then
    return prefix .. ": " .. c.reason
  end
  return prefix
end

local status = obj.status
if status == nil then
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local observed = status.observedGeneration
if generation ~= nil and observed ~= generation then
  if observed == nil then
    hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  else
    hs.message = "Waiting for the operator to observe generation " .. tostring(generation) ..
      " (status is for generation " .. tostring(observed) .. ")"
  end
  return hs
end

local conditions = status.conditions
if conditions == nil or #conditions == 0 then
  return hs
end

local ready = find(conditions, "Ready")
local reconciling = find(conditions, "Reconciling")
local stalled = find(conditions, "Stalled")

if isTrue(stalled) then
  hs.status = "Degraded"
  hs.message = message(label("Stalled", stalled), stalled, ready)
  return hs
end
if isTrue(reconciling) then
  hs.message = message(label("Reconciling", reconciling), reconciling, ready)
  return hs
end
if isTrue(ready) then
  hs.status = "Healthy"
  hs.message = message("Ready", ready)
  return hs
end
if ready ~= nil then
  hs.message = message(label("Not ready", ready), ready)
else
  hs.message = "Waiting for the Ready condition"
end
return hs
