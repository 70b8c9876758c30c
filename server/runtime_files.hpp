#pragma once
// Placeholder: filled in by the issue 11 work.
